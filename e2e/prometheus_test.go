package e2e

import (
	"context"
	"testing"
	"time"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// The three dashboard queries of seed 000, verbatim.
var seedQueries = []struct {
	name, promql, label string
	want                []string
}{
	{"write-side command throughput", `sum(rate(cqrs_command_total[5m])) by (command_type)`,
		"command_type", []string{"PlaceOrder", "CancelOrder"}},
	{"read-side query latency p95", `histogram_quantile(0.95,
  sum(rate(cqrs_query_duration_bucket[5m])) by (le, query_type)
)`, "query_type", []string{"GetOrder", "ListOrders"}},
	{"projection lag p99", `histogram_quantile(0.99,
  sum(rate(cqrs_projection_lag_bucket[5m])) by (le, projection_name)
)`, "projection_name", []string{"OrderSummary"}},
}

// TestSeedPromQLAgainstRealPrometheus scrapes otelcol-es with a real Prometheus server and runs the seed's
// three PromQL queries through its HTTP API.
func TestSeedPromQLAgainstRealPrometheus(t *testing.T) {
	promBin := tb.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, promBin, []string{c.Prom})

	// rate() needs an increase between two scrapes: send, let Prometheus see the first values, send again.
	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(seed))
	tb.WaitForQuery(ctx, t, prom, `cqrs_command_total{command_type="PlaceOrder"}`, "command_type", []string{"PlaceOrder"}, false)
	tb.WaitForQuery(ctx, t, prom, `cqrs_projection_lag_count`, "projection_name", []string{"OrderSummary"}, false)
	tb.Send(ctx, t, c, tb.HTTPProto, tb.WithFreshIDs(seed))

	for _, q := range seedQueries {
		t.Run(q.name, func(t *testing.T) {
			res := tb.WaitForQuery(ctx, t, prom, q.promql, q.label, q.want, true)
			t.Logf("%s -> %+v", q.promql, res)
		})
	}
}
