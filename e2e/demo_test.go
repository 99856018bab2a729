package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// groundTruth is the part of esdemo's exit report (eventsource/README.md) this test checks.
type groundTruth struct {
	ServiceName    string                      `json:"service_name"`
	Commands       map[string]map[string]int64 `json:"commands"`
	EventsProduced struct {
		ByCommandType map[string]int64 `json:"by_command_type"`
	} `json:"events_produced"`
	Queries     map[string]map[string]int64 `json:"queries"`
	Projections map[string]struct {
		Phases map[string]struct {
			Applies int64 `json:"applies"`
			LagMs   struct {
				Count int64   `json:"count"`
				Sum   float64 `json:"sum"`
			} `json:"lag_ms"`
		} `json:"phases"`
	} `json:"projections"`
}

// The runtime module's demo workload against the default config: the collector's metrics equal the demo's
// own ground truth, exactly for counts, and within 1 ms per span for lag.
func TestDemoWorkloadMatchesGroundTruth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	demo := filepath.Join(t.TempDir(), "esdemo")
	build := exec.Command("go", "build", "-o", demo, "./cmd/esdemo")
	build.Dir = filepath.Join(tb.RepoRoot(), "eventsource")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	truthFile := filepath.Join(t.TempDir(), "truth.json")
	run := exec.CommandContext(ctx, demo, "-endpoint", c.GRPC, "-duration", "3s", "-rate", "40", "-query-rate", "20",
		"-error-ratio", "0.1", "-out", truthFile)
	out, err = run.CombinedOutput()
	require.NoError(t, err, string(out))
	raw, err := os.ReadFile(truthFile)
	require.NoError(t, err)
	var truth groundTruth
	require.NoError(t, json.Unmarshal(raw, &truth))
	t.Logf("ground truth: %s", raw)

	svc := map[string]string{"service_name": truth.ServiceName}
	url := "http://" + c.Prom + "/metrics"
	for typ, byStatus := range truth.Commands {
		for status, n := range byStatus {
			if n > 0 {
				tb.WaitForValue(ctx, t, url, 30*time.Second, "cqrs_command_total",
					withLabel(withLabel(svc, "command_type", typ), "command_status", status), float64(n))
			}
		}
	}
	for typ, n := range truth.EventsProduced.ByCommandType {
		tb.WaitForValue(ctx, t, url, 30*time.Second, "cqrs_events_produced", withLabel(svc, "command_type", typ), float64(n))
	}
	for typ, byStatus := range truth.Queries {
		for status, n := range byStatus {
			if n > 0 {
				tb.WaitForValue(ctx, t, url, 30*time.Second, "cqrs_query_total",
					withLabel(withLabel(svc, "query_type", typ), "query_status", status), float64(n))
			}
		}
	}
	for name, p := range truth.Projections {
		live := p.Phases["live"]
		labels := withLabel(svc, "projection_name", name)
		require.Positive(t, live.Applies, "projection %s applied nothing", name)
		require.Eventually(t, func() bool {
			mf, err := tb.Scrape(ctx, url)
			return err == nil && mf.Sum("cqrs_projection_total", labels) == float64(live.Applies)
		}, 30*time.Second, 250*time.Millisecond, "cqrs_projection_total%v != %d", labels, live.Applies)
		mf, err := tb.Scrape(ctx, url)
		require.NoError(t, err)
		assert.Equalf(t, float64(live.LagMs.Count), mf.Sum("cqrs_projection_lag", labels), "lag count of %s", name)
		sum, ok := mf.HistogramSum("cqrs_projection_lag", labels)
		if assert.True(t, ok) {
			assert.LessOrEqualf(t, math.Abs(sum-live.LagMs.Sum), float64(live.LagMs.Count)*1.0,
				"lag sum of %s: collector %v, demo %v (tolerance 1 ms per span)", name, sum, live.LagMs.Sum)
		}
	}
}
