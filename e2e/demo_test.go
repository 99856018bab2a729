package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// groundTruth is the part of esdemo's exit report (eventsource/README.md) this test checks.
type groundTruth struct {
	ServiceName    string                      `json:"service_name"`
	SpansTotal     int64                       `json:"spans_total"`
	CommandsTotal  int64                       `json:"commands_total"`
	Commands       map[string]map[string]int64 `json:"commands"`
	EventsProduced struct {
		ByCommandType map[string]int64 `json:"by_command_type"`
	} `json:"events_produced"`
	Queries     map[string]map[string]int64 `json:"queries"`
	Projections map[string]struct {
		Phases map[string]struct {
			Applies int64 `json:"applies"`
			// LagByEventType is the lag each apply span reported; LagBySource the lag esdemo measured on
			// its own clock for each source the collector computes it from when the span reports none.
			LagByEventType map[string]stats            `json:"lag_ms_by_event_type"`
			LagBySource    map[string]map[string]stats `json:"lag_ms_by_source"`
		} `json:"phases"`
	} `json:"projections"`
	ConsistencyDelay map[string]map[string]stats `json:"consistency_delay_ms"`
}

type stats struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
}

// The runtime module's demo workload against the default config, once per lag source (esdemo -lag-source):
// apply spans as the runtime makes them (the collector passes their reported lag through), without the
// reported lag (the collector computes it from the event timestamp), and without either (it joins each
// apply to the append span it links to). The collector's metrics equal each run's ground truth: counts
// exactly, lag and consistency-delay sums to float rounding, against lags esdemo measured on its own clock.
func TestDemoWorkloadMatchesGroundTruth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := demoBinary(t)
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	sources := []string{"reported", "event_timestamp", "link"}
	truths := make([]*groundTruth, len(sources))
	errs := make([]error, len(sources))
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i, source := range sources {
		wg.Go(func() {
			out := filepath.Join(dir, source+".json")
			truths[i], errs[i] = runDemo(ctx, demo, out, c.GRPC, "-service-name", "demo-"+source, "-lag-source", source,
				"-commands", "120", "-rate", "40", "-query-rate", "20", "-error-ratio", "0.1")
		})
	}
	wg.Wait()
	for i, source := range sources {
		require.NoErrorf(t, errs[i], "esdemo -lag-source %s", source)
	}
	for i, source := range sources {
		t.Run(source, func(t *testing.T) { checkDemo(ctx, t, "http://"+c.Prom+"/metrics", truths[i], source) })
	}
}

// checkWriteSide waits until the collector's command, events-produced and query counts under service equal
// the ground truth.
func checkWriteSide(ctx context.Context, t *testing.T, url string, truth *groundTruth, service string) {
	svc := map[string]string{"service_name": service}
	for typ, byStatus := range truth.Commands {
		for status, n := range byStatus {
			if n > 0 {
				tb.WaitForValue(ctx, t, url, 60*time.Second, "cqrs_command_total",
					withLabel(withLabel(svc, "command_type", typ), "command_status", status), float64(n))
			}
		}
	}
	for typ, n := range truth.EventsProduced.ByCommandType {
		tb.WaitForValue(ctx, t, url, 60*time.Second, "cqrs_events_produced", withLabel(svc, "command_type", typ), float64(n))
	}
	for typ, byStatus := range truth.Queries {
		for status, n := range byStatus {
			if n > 0 {
				tb.WaitForValue(ctx, t, url, 60*time.Second, "cqrs_query_total",
					withLabel(withLabel(svc, "query_type", typ), "query_status", status), float64(n))
			}
		}
	}
}

func checkDemo(ctx context.Context, t *testing.T, url string, truth *groundTruth, source string) {
	require.Positive(t, truth.SpansTotal, "esdemo sent no spans")
	require.Positive(t, truth.CommandsTotal, "esdemo ran no command")
	require.NotEmpty(t, truth.Projections, "esdemo applied nothing")
	svc := map[string]string{"service_name": truth.ServiceName}
	checkWriteSide(ctx, t, url, truth, truth.ServiceName)
	for name, p := range truth.Projections {
		live := p.Phases["live"]
		labels := withLabel(svc, "projection_name", name)
		require.Positive(t, live.Applies, "projection %s applied nothing", name)
		require.Eventually(t, func() bool {
			mf, err := tb.Scrape(ctx, url)
			return err == nil && mf.Sum("cqrs_projection_total", labels) == float64(live.Applies)
		}, 60*time.Second, 250*time.Millisecond, "cqrs_projection_total%v != %d", labels, live.Applies)
		lag := live.LagBySource[source]
		if source == "reported" {
			lag = live.LagByEventType
		}
		require.NotEmptyf(t, lag, "no %s lag for %s in the ground truth", source, name)
		mf, err := tb.Scrape(ctx, url)
		require.NoError(t, err)
		for et, want := range lag {
			l := withLabel(labels, "event_type", et)
			assert.Equalf(t, float64(want.Count), mf.Sum("cqrs_projection_lag", l), "lag count%v", l)
			sum, ok := mf.HistogramSum("cqrs_projection_lag", l)
			if assert.Truef(t, ok, "no cqrs_projection_lag%v", l) {
				assert.InDeltaf(t, want.Sum, sum, 1e-9*want.Sum, "lag sum%v: collector %v, esdemo %v", l, sum, want.Sum)
			}
		}
	}
	mf, err := tb.Scrape(ctx, url)
	require.NoError(t, err)
	require.NotEmpty(t, truth.ConsistencyDelay)
	for cmd, byProj := range truth.ConsistencyDelay {
		for proj, want := range byProj {
			l := withLabel(withLabel(svc, "command_type", cmd), "projection_name", proj)
			assert.Equalf(t, float64(want.Count), mf.Sum("cqrs_consistency_delay", l), "delay count%v", l)
			sum, _ := mf.HistogramSum("cqrs_consistency_delay", l)
			assert.InDeltaf(t, want.Sum, sum, 1e-9*want.Sum, "delay sum%v", l)
		}
	}
}

// runDemo runs esdemo against an OTLP/gRPC endpoint and returns its ground truth, written to out. It does
// not fail the test itself, so any goroutine may call it.
func runDemo(ctx context.Context, bin, out, endpoint string, args ...string) (*groundTruth, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-endpoint", endpoint, "-out", out}, args...)...)
	if logs, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, logs)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var truth groundTruth
	return &truth, json.Unmarshal(raw, &truth)
}

// demoBinary is $OTELCOL_ES_DEMO_BIN (set by the Makefile), else eventsource/cmd/esdemo built here.
func demoBinary(t *testing.T) string {
	if bin := os.Getenv("OTELCOL_ES_DEMO_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	bin := filepath.Join(t.TempDir(), "esdemo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(tb.RepoRoot(), "eventsource", "cmd", "esdemo")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}
