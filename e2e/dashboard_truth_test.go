package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// quantiles is a distribution in the demo's ground truth: exact nearest-rank quantiles of every value.
type quantiles struct {
	Count int64   `json:"count"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
}

// dashboardTruth is the part of esdemo's ground truth the dashboard's panels are checked against.
type dashboardTruth struct {
	SpansTotal     int64                       `json:"spans_total"`
	HeadPosition   int64                       `json:"head_position"`
	Commands       map[string]map[string]int64 `json:"commands"`
	EventsProduced struct {
		ByCommandType map[string]int64 `json:"by_command_type"`
	} `json:"events_produced"`
	QueryDurationMs           map[string]quantiles `json:"query_duration_ms"`
	ConsistencyDelayByCommand map[string]quantiles `json:"consistency_delay_ms_by_command_type"`
	Projections               map[string]struct {
		Checkpoint int64 `json:"checkpoint"`
		Phases     map[string]struct {
			LagMs quantiles `json:"lag_ms"`
		} `json:"phases"`
	} `json:"projections"`
}

func readDashboardTruth(t *testing.T, file string) *dashboardTruth {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var d dashboardTruth
	require.NoError(t, json.Unmarshal(raw, &d))
	return &d
}

// Every panel of the dashboard returns what the demo's ground truth implies. Run A of the demo creates
// every series; once Prometheus has scraped its final values, run B goes, and each panel's query is
// evaluated with its rate window ($__rate_interval, and the seed panels' 5m) set to exactly the time since A
// settled: the window sees B's increase alone. Then, against B's ground truth:
//
//   - ratios (error ratio, events per command) are exact (1e-9): every series of a target shares its scrape
//     timestamps, so rate()'s extrapolation cancels;
//   - rates times the window equal B's counts within 10% (rate() extrapolates each end by up to half a scrape
//     interval, 1 s here, over a window of 40 s or more);
//   - quantiles lie in the histogram bucket holding the true (nearest-rank) quantile of B's values, or equal
//     the highest finite bound when it lies beyond (histogram_quantile's answer then);
//   - gauges read what the run left: positions behind 0 and state ok (the projections caught up), no late
//     join pending or lost (apply spans report their lag), no span refused.
func TestDashboardPanelsMatchGroundTruth(t *testing.T) {
	promBin := tb.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, panels := loadDashboard(t)
	demo := demoBinary(t)
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, promBin, []string{c.Prom, c.Telemetry})
	const service = "dashboard-truth"
	sel := fmt.Sprintf("{service_name=%q}", service)
	dir := t.TempDir()
	common := []string{"-service-name", service, "-query-rate", "40", "-error-ratio", "0.2"}

	// Run A: every series B will move exists, with B's label sets (the seed fixes both workloads).
	_, err := runDemo(ctx, demo, filepath.Join(dir, "a.json"), c.GRPC, append(common, "-commands", "200", "-rate", "100", "-seed", "7")...)
	require.NoError(t, err, "esdemo run A")
	// Settled: Prometheus holds the final counts of every histogram and counter the panels read.
	settled := func(runs ...*dashboardTruth) {
		var commands, queries, lags, delays float64
		for _, r := range runs {
			for cmd := range r.Commands {
				commands += float64(r.Commands[cmd]["success"] + r.Commands[cmd]["error"])
			}
			for _, q := range r.QueryDurationMs {
				queries += float64(q.Count)
			}
			for _, p := range r.Projections {
				lags += float64(p.Phases["live"].LagMs.Count)
			}
			for _, d := range r.ConsistencyDelayByCommand {
				delays += float64(d.Count)
			}
		}
		waitPromValue(ctx, t, prom, "sum(cqrs_command_total"+sel+")", commands)
		waitPromValue(ctx, t, prom, "sum(cqrs_query_duration_count"+sel+")", queries)
		waitPromValue(ctx, t, prom, "sum(cqrs_projection_lag_count"+sel+")", lags)
		waitPromValue(ctx, t, prom, "sum(cqrs_consistency_delay_count"+sel+")", delays)
	}
	at := readDashboardTruth(t, filepath.Join(dir, "a.json"))
	settled(at)
	// The window starts within [start, start+1s): after A settled, before B's first span.
	start := time.Now()
	time.Sleep(3 * time.Second)

	_, err = runDemo(ctx, demo, filepath.Join(dir, "b.json"), c.GRPC, append(common, "-commands", "600", "-rate", "40", "-seed", "8")...)
	require.NoError(t, err, "esdemo run B")
	bt := readDashboardTruth(t, filepath.Join(dir, "b.json"))
	settled(at, bt)
	for cmd := range bt.Commands {
		for status := range bt.Commands[cmd] {
			if bt.Commands[cmd][status] > 0 {
				require.Positivef(t, at.Commands[cmd][status], "run A has no %s %s: that series would start in B's window", cmd, status)
			}
		}
	}
	// Every query is evaluated at one instant, over a window of at least 40 s that starts after A settled.
	for time.Since(start) < 41*time.Second {
		time.Sleep(time.Second)
	}
	evalAt := time.Now()
	window := int(evalAt.Sub(start).Seconds())
	rangeSel := regexp.MustCompile(`\[(5m|\$__rate_interval)\]`)
	query := func(expr string) map[string]float64 {
		t.Helper()
		expr = substitute(rangeSel.ReplaceAllString(expr, fmt.Sprintf("[%ds]", window)), service)
		var data struct {
			Result []tb.PromSample `json:"result"`
		}
		at := strconv.FormatFloat(float64(evalAt.UnixMilli())/1000, 'f', 3, 64)
		require.NoError(t, tb.API(ctx, prom, "/api/v1/query", url.Values{"query": {expr}, "time": {at}}, &data), expr)
		out := map[string]float64{}
		for _, r := range data.Result {
			s, _ := r.Value[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			key := r.Metric["command_type"] + r.Metric["query_type"] + r.Metric["projection_name"] + r.Metric["receiver"]
			out[key] += v
		}
		t.Logf("%s -> %v", expr, out)
		return out
	}
	bounds := func(histogram string) []float64 {
		res, err := tb.Query(ctx, prom, "count by (le) ("+histogram+"_bucket"+sel+")")
		require.NoError(t, err)
		var les []float64
		for _, r := range res {
			if le, err := strconv.ParseFloat(r.Metric["le"], 64); err == nil && !math.IsInf(le, 1) {
				les = append(les, le)
			}
		}
		slices.Sort(les)
		require.NotEmpty(t, les, histogram)
		return les
	}
	inBucket := func(what string, les []float64, truth, got float64) {
		t.Helper()
		i, _ := slices.BinarySearch(les, truth) // les[i-1] < truth <= les[i]
		if i == len(les) {
			assert.Equalf(t, les[len(les)-1], got, "%s: the true %v is beyond the last bound", what, truth)
			return
		}
		lo := 0.0
		if i > 0 {
			lo = les[i-1]
		}
		assert.Truef(t, got > lo && got <= les[i] || got == les[i], "%s: %v is outside the bucket (%v, %v] holding the true %v",
			what, got, lo, les[i], truth)
	}
	commands := func(cmd string) int64 { return bt.Commands[cmd]["success"] + bt.Commands[cmd]["error"] }
	liveLag := func(p string) quantiles { return bt.Projections[p].Phases["live"].LagMs }

	for _, p := range panels {
		for _, tg := range p.Targets {
			name := fmt.Sprintf("%s/%s", p.Title, tg.RefID)
			got := query(tg.Expr)
			require.NotEmptyf(t, got, "%s returned nothing", name)
			switch name {
			case "Write-side command throughput/A":
				for cmd := range bt.Commands {
					assert.InEpsilonf(t, float64(commands(cmd)), got[cmd]*float64(window), 0.1, "%s %s", name, cmd)
				}
			case "Read-side query latency p95/A":
				les := bounds("cqrs_query_duration")
				for q, d := range bt.QueryDurationMs {
					inBucket(name+" "+q, les, d.P95, got[q])
				}
			case "Projection lag p99/A", "Projection lag p99 and positions behind/A":
				les := bounds("cqrs_projection_lag")
				for proj := range bt.Projections {
					inBucket(name+" "+proj, les, liveLag(proj).P99, got[proj])
				}
			case "Projection lag p99 and positions behind/B":
				for proj, pt := range bt.Projections {
					require.Equal(t, bt.HeadPosition, pt.Checkpoint, "%s caught up", proj)
					assert.Zerof(t, got[proj], "%s: positions behind", proj)
				}
			case "Projection state/A":
				for proj := range bt.Projections {
					v, ok := got[proj]
					assert.Truef(t, ok && v == 0, "%s: state %v (0 is ok)", proj, v)
				}
			case "Consistency delay p95 by command type/A":
				les := bounds("cqrs_consistency_delay")
				for cmd, d := range bt.ConsistencyDelayByCommand {
					inBucket(name+" "+cmd, les, d.P95, got[cmd])
				}
			case "Command error ratio/A":
				for cmd := range bt.Commands {
					want := float64(bt.Commands[cmd]["error"]) / float64(commands(cmd))
					assert.InDeltaf(t, want, got[cmd], 1e-9, "%s %s", name, cmd)
				}
			case "Events produced per command/A":
				for cmd, n := range bt.EventsProduced.ByCommandType {
					assert.InDeltaf(t, float64(n)/float64(commands(cmd)), got[cmd], 1e-9, "%s %s", name, cmd)
				}
			case "Spans accepted and refused/A":
				var sum float64
				for _, v := range got {
					sum += v
				}
				t.Logf("spans: truth %d, rate × window %.0f", bt.SpansTotal, sum*float64(window))
				assert.InEpsilonf(t, float64(bt.SpansTotal), sum*float64(window), 0.1, name)
			case "Spans accepted and refused/B", "Pending late joins/A", "Late joins lost/A":
				for k, v := range got {
					assert.Zerof(t, v, "%s %s", name, k)
				}
			default:
				t.Errorf("panel %s has no check against the ground truth: add one", name)
			}
		}
	}
}
