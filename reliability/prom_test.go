package reliability

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// histograms are the CQRS metrics exposed as Prometheus histograms (_bucket, _sum, _count).
var histograms = map[string]bool{
	"cqrs_command_duration": true, "cqrs_query_duration": true, "cqrs_query_result_size": true,
	"cqrs_projection_lag": true, "cqrs_projection_replay_lag": true, "cqrs_projection_duration": true,
	"cqrs_consistency_delay": true,
}

// counted are the metrics whose series must be identical (counts exact) whichever topology computed them.
var counted = []string{
	"cqrs_command_total", "cqrs_events_produced", "cqrs_query_total", "cqrs_projection_total",
	"cqrs_command_duration_bucket", "cqrs_command_duration_count",
	"cqrs_query_duration_bucket", "cqrs_query_result_size_bucket",
	"cqrs_projection_lag_bucket", "cqrs_projection_lag_count",
	"cqrs_projection_replay_lag_bucket", "cqrs_projection_duration_bucket",
	"cqrs_consistency_delay_bucket", "cqrs_consistency_delay_count",
}

// summed are histogram sums: equal up to the order in which floats were added.
var summed = []string{
	"cqrs_command_duration_sum", "cqrs_query_result_size_sum", "cqrs_projection_lag_sum",
	"cqrs_projection_replay_lag_sum", "cqrs_consistency_delay_sum",
}

// promSource answers metricSource questions through PromQL over the scrape targets in instances.
type promSource struct {
	ctx       context.Context
	t         *testing.T
	base      string
	instances []string
}

func (p promSource) selector(want map[string]string) string {
	parts := []string{fmt.Sprintf(`instance=~%q`, strings.Join(p.instances, "|"))}
	for _, k := range sortedKeys(want) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, want[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (p promSource) scalar(promql string) float64 {
	p.t.Helper()
	res, err := testbed.Query(p.ctx, p.base, promql)
	require.NoError(p.t, err, promql)
	if len(res) == 0 {
		return 0
	}
	require.Len(p.t, res, 1, promql)
	v, err := strconv.ParseFloat(res[0].Value[1].(string), 64)
	require.NoError(p.t, err)
	return v
}

func (p promSource) total(name string, want map[string]string) float64 {
	if histograms[name] {
		name += "_count"
	}
	return p.scalar("sum(" + name + p.selector(want) + ")")
}

func (p promSource) histSum(name string, want map[string]string) float64 {
	return p.scalar("sum(" + name + "_sum" + p.selector(want) + ")")
}

// series returns metric summed over the given scrape targets and over the labels that name a collector
// (instance, otelcol_instance_id), keyed by the remaining label set.
func (p promSource) series(metric string) map[string]float64 {
	p.t.Helper()
	q := fmt.Sprintf("sum without (instance, otelcol_instance_id) (%s%s)", metric, p.selector(nil))
	res, err := testbed.Query(p.ctx, p.base, q)
	require.NoError(p.t, err, q)
	out := map[string]float64{}
	for _, r := range res {
		v, err := strconv.ParseFloat(r.Value[1].(string), 64)
		require.NoError(p.t, err)
		out[describe(r.Metric)] = v
	}
	return out
}

// waitForPromTruth waits until Prometheus holds the demo's command and projection totals over instances.
func waitForPromTruth(t *testing.T, src promSource, tr *truth) {
	t.Helper()
	var applies int64
	for _, p := range tr.Projections {
		for _, ph := range p.Phases {
			applies += ph.Applies
		}
	}
	svc := map[string]string{"service_name": tr.ServiceName}
	deadline := time.Now().Add(90 * time.Second)
	for {
		cmds, projs := src.total("cqrs_command_total", svc), src.total("cqrs_projection_total", svc)
		if cmds == float64(tr.CommandsTotal) && projs == float64(applies) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never reached the ground truth over %v: commands %v/%d, projection applies %v/%d",
				src.instances, cmds, tr.CommandsTotal, projs, applies)
		}
		time.Sleep(time.Second)
	}
}

// compareTopologies asserts that every counted series is identical over a and b, and histogram sums close.
func compareTopologies(t *testing.T, a, b promSource) {
	t.Helper()
	for _, m := range counted {
		sa, sb := a.series(m), b.series(m)
		require.NotEmptyf(t, sb, "no %s series over %v", m, b.instances)
		if !equalMaps(sa, sb) {
			t.Errorf("%s differs:\n  %v: %s\n  %v: %s", m, a.instances, fmtSeries(sa), b.instances, fmtSeries(sb))
		}
	}
	for _, m := range summed {
		sa, sb := a.series(m), b.series(m)
		if len(sa) != len(sb) {
			t.Errorf("%s: %d series over %v, %d over %v", m, len(sa), a.instances, len(sb), b.instances)
			continue
		}
		for k, v := range sb {
			assertClose(t, v, sa[k], 1e-6, "%s%s", m, k)
		}
	}
}

func equalMaps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func fmtSeries(m map[string]float64) string {
	keys := sortedKeys(m)
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %s %v", k, m[k])
	}
	return b.String()
}

// waitConverged waits (bounded) until every counted series is equal over a and b; the assertions follow.
func waitConverged(t *testing.T, a, b promSource, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		same := true
		for _, m := range counted {
			if !equalMaps(a.series(m), b.series(m)) {
				same = false
				break
			}
		}
		if same {
			return
		}
		time.Sleep(time.Second)
	}
}

// linkJoins sums projectionlag's join counters over collectors' own telemetry.
func linkJoins(ctx context.Context, t *testing.T, cs ...*testbed.Collector) (pairs, unmatched float64) {
	t.Helper()
	for _, c := range cs {
		f, err := testbed.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
		require.NoError(t, err)
		pairs += f.Sum("otelcol_processor_projectionlag_link_pairs", nil)
		unmatched += f.Sum("otelcol_processor_projectionlag_link_unmatched", nil)
	}
	return pairs, unmatched
}

// checkJoinsColocated asserts the routing key kept every live join inside one gateway: no apply span went
// unmatched more often than on the single reference instance, and the gateways paired at least every live
// apply (each links to its append span in the same trace). Replay applies run in the rebuild's own trace
// and link across traces: the reference pairs them all, a gateway only those whose producer it happens to
// hold. Harmless, since replay lag is reported by the runtime and replays carry no consistency delay.
func checkJoinsColocated(ctx context.Context, t *testing.T, gws []*testbed.Collector, ref *testbed.Collector, tr *truth) {
	t.Helper()
	var live, replay int64
	for _, p := range tr.Projections {
		for phase, ph := range p.Phases {
			if phase == "live" {
				live += ph.Applies
			} else {
				replay += ph.Applies
			}
		}
	}
	p, u := linkJoins(ctx, t, gws...)
	rp, ru := linkJoins(ctx, t, ref)
	t.Logf("projectionlag link joins: gateways %v paired / %v unmatched, single instance %v / %v; live applies %d, replay applies %d",
		p, u, rp, ru, live, replay)
	require.Equal(t, ru, u, "unmatched links summed over the gateways = single instance")
	require.GreaterOrEqual(t, p, float64(live), "every live apply joined its producer on its gateway")
	require.GreaterOrEqual(t, rp, p)
}
