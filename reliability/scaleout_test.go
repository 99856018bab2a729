package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// startGateway runs config/gateway-lb-backend.yaml, forwarding traces to backend; once it is ready,
// gatewayAddr is its OTLP/gRPC address.
func startGateway(t *testing.T, backend string, extraEnv ...string) *testbed.Collector {
	t.Helper()
	env := append([]string{"OTELCOL_ES_BACKEND=" + backend}, extraEnv...)
	return testbed.StartCollector(t, collectorBin, env, "--config", configPath("gateway-lb-backend.yaml"))
}

func gatewayAddr(t *testing.T, c *testbed.Collector) string {
	return c.Addr(t, "OTELCOL_ES_GATEWAY_GRPC")
}

// writeOverlay writes a config fragment merged over a shipped config (--config a --config b).
func writeOverlay(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "overlay.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// referenceOverlay tees an agent's traces pipeline to one more gateway: a single instance fed the same stream.
// Its timeout is long: an export that succeeds after the default 5 s (a loaded machine) would be sent again,
// and the reference would count those spans twice.
const referenceOverlay = `exporters:
  otlp_grpc/reference:
    endpoint: ${env:RELIABILITY_REFERENCE}
    timeout: 60s
    tls:
      insecure: true
service:
  pipelines:
    traces:
      exporters: [%s, otlp_grpc/reference]
`

// lbSlowGatewayOverlay gives the agent's per-gateway exports the same long timeout as the reference's, so a
// slow answer on a loaded machine is not sent again (at-least-once delivery, but a gateway would count twice).
const lbSlowGatewayOverlay = `exporters:
  load_balancing:
    protocol:
      otlp:
        timeout: 60s
`

// TestLoadBalancedGatewaysMatchSingleInstance: esdemo -> agent (config/agent-lb.yaml, load_balancing by
// trace id over a static list) -> three gateways (config/gateway-lb-backend.yaml). The agent also tees the
// same stream to a fourth, reference gateway. A real Prometheus scrapes all four: the totals and histogram
// buckets summed over the three equal the reference's, both equal esdemo's ground truth, and the three
// gateways' series carry three distinct otelcol_instance_id values.
func TestLoadBalancedGatewaysMatchSingleInstance(t *testing.T) {
	promBin := testbed.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sink, refSink := testbed.StartTraceSink(t), testbed.StartTraceSink(t)
	var gws []*testbed.Collector
	for range 3 {
		gws = append(gws, startGateway(t, sink.Addr))
	}
	ref := startGateway(t, refSink.Addr)
	var addrs []string
	for _, g := range append(gws, ref) {
		g.WaitReady(t)
		addrs = append(addrs, gatewayAddr(t, g))
	}
	agent := testbed.StartCollector(t, collectorBin,
		[]string{"OTELCOL_ES_LB_GATEWAYS=" + strings.Join(addrs[:3], ","), "RELIABILITY_REFERENCE=" + addrs[3]},
		"--config", configPath("agent-lb.yaml"), "--config", writeOverlay(t, fmt.Sprintf(referenceOverlay, "load_balancing")),
		"--config", writeOverlay(t, lbSlowGatewayOverlay))
	agent.WaitReady(t)
	var lbTargets []string
	for _, g := range gws {
		lbTargets = append(lbTargets, g.Prom)
	}
	prom := testbed.StartPrometheus(t, promBin, append(lbTargets, ref.Prom))

	// The gateways compute the lag from the event timestamp (a replayed apply's producer is in another
	// trace, so on another gateway: link lag would not be joined), checked against esdemo's own clock.
	tr := runDemo(ctx, t, agent.GRPC, "-duration", "15s", "-rate", "60", "-replay-after", "8s", "-service-name", "lb",
		"-lag-source", lagEventTimestamp)
	t.Logf("esdemo: %d spans, %d commands", tr.SpansTotal, tr.CommandsTotal)

	// Every span: into the agent, into exactly one of the three gateways, and on to the traces backend.
	recheckSpans := waitSpans(ctx, t, tr.SpansTotal, agent, gws, "otlp", ref, sink, refSink)
	defer recheckSpans()

	checkTopologyMatchesReference(ctx, t, prom, gws, ref, tr, lagEventTimestamp)

	t.Run("series never collide", func(t *testing.T) {
		ids := map[string]string{}
		for _, target := range lbTargets {
			res, err := testbed.Query(ctx, prom, fmt.Sprintf(`count by (otelcol_instance_id) ({__name__=~"cqrs_.+", instance=%q})`, target))
			require.NoError(t, err)
			require.Lenf(t, res, 1, "gateway %s: every CQRS series carries one otelcol_instance_id: %+v", target, res)
			id := res[0].Metric["otelcol_instance_id"]
			require.NotEmptyf(t, id, "gateway %s has CQRS series without otelcol_instance_id", target)
			assert.NotContainsf(t, ids, id, "gateways %s and %s share otelcol_instance_id %q", ids[id], target, id)
			ids[id] = target
		}
		// Without the scrape target's instance label, the three gateways' series are still distinct.
		sel := fmt.Sprintf(`{instance=~%q}`, strings.Join(lbTargets, "|"))
		for _, m := range counted {
			all, err := testbed.Query(ctx, prom, "count("+m+sel+")")
			require.NoError(t, err)
			distinct, err := testbed.Query(ctx, prom, "count(count without (instance) ("+m+sel+"))")
			require.NoError(t, err)
			require.Lenf(t, all, 1, "no %s series", m)
			require.Len(t, distinct, 1)
			assert.Equalf(t, all[0].Value[1], distinct[0].Value[1], "%s: series of different gateways collapse once the scrape target label is dropped", m)
		}
	})
}

// waitSpans waits until the agent accepted every span, the gateways together accepted each exactly once on
// their gwReceiver (otlp behind load_balancing, kafka behind a consumer group), each of them some, the
// reference accepted all, and both traces backends received every one. A backend may receive a span twice:
// a gateway's exporter sends again what the backend did not answer within its timeout (at-least-once; on a
// loaded machine the test's in-process backend can be that slow), which changes no count a collector
// makes; those redeliveries are reported. It returns a recheck to call once the test's other checks are
// done: a duplicate that reached a collector after the wait fails it.
func waitSpans(ctx context.Context, t *testing.T, want int64, agent *testbed.Collector, gws []*testbed.Collector, gwReceiver string,
	ref *testbed.Collector, sink, refSink *testbed.TraceSink) (recheck func()) {
	t.Helper()
	keys := []string{"agent", "gateways", "reference", "backend distinct", "reference backend distinct"}
	observe := func() map[string]float64 {
		state := map[string]float64{}
		a, _, err := acceptedSpans(ctx, agent, "otlp")
		require.NoError(t, err)
		state["agent"] = a
		var sum float64
		for i, g := range gws {
			v, _, err := acceptedSpans(ctx, g, gwReceiver)
			require.NoError(t, err)
			state[fmt.Sprintf("gateway%d", i)] = v
			sum += v
		}
		state["gateways"] = sum
		r, _, err := acceptedSpans(ctx, ref, "otlp")
		require.NoError(t, err)
		state["reference"] = r
		state["backend"], state["backend distinct"] = float64(sink.Spans()), float64(sink.Distinct())
		state["reference backend"], state["reference backend distinct"] = float64(refSink.Spans()), float64(refSink.Distinct())
		return state
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		state := observe()
		ok, over := true, false
		for _, k := range keys {
			ok = ok && state[k] == float64(want)
			over = over || state[k] > float64(want)
		}
		if ok {
			for i := range gws {
				assert.Positivef(t, state[fmt.Sprintf("gateway%d", i)], "gateway %d received no spans: the load was not spread", i)
			}
			t.Logf("spans: %v (redelivered to the backends: %v and %v)", state, state["backend"]-state["backend distinct"],
				state["reference backend"]-state["reference backend distinct"])
			return func() {
				t.Helper()
				later := observe()
				for _, k := range keys {
					assert.Equalf(t, float64(want), later[k], "%s spans once the checks were done (duplicates arrived late?): %v", k, later)
				}
			}
		}
		if time.Now().After(deadline) || over {
			t.Fatalf("spans sent %d, accepted/received: %v", want, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkTopologyMatchesReference waits until the gateways' and the single reference instance's CQRS metrics
// reach the demo's ground truth, then checks that link joins stayed co-located and that the gateways
// together equal the reference (every counter and bucket) and the ground truth.
func checkTopologyMatchesReference(ctx context.Context, t *testing.T, prom string, gws []*testbed.Collector, ref *testbed.Collector, tr *truth,
	lagSource string) {
	t.Helper()
	var targets []string
	for _, g := range gws {
		targets = append(targets, g.Prom)
	}
	spread := promSource{ctx: ctx, t: t, base: prom, instances: targets}
	single := promSource{ctx: ctx, t: t, base: prom, instances: []string{ref.Prom}}
	waitForPromTruth(t, spread, tr)
	waitForPromTruth(t, single, tr)
	// Other families may land one flush or scrape later than the headline totals.
	waitConverged(t, spread, single, 30*time.Second)

	t.Run("link joins co-located", func(t *testing.T) { checkJoinsColocated(ctx, t, gws, ref, tr) })
	t.Run("gateways = one instance", func(t *testing.T) {
		compareTopologies(t, promSource{ctx, t, prom, targets}, promSource{ctx, t, prom, []string{ref.Prom}})
	})
	t.Run("gateways = ground truth", func(t *testing.T) { checkAgainstTruth(t, promSource{ctx, t, prom, targets}, tr, lagSource) })
	t.Run("one instance = ground truth", func(t *testing.T) { checkAgainstTruth(t, promSource{ctx, t, prom, []string{ref.Prom}}, tr, lagSource) })
}
