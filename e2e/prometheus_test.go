package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// The three dashboard queries of seed 000, verbatim, and what each must return for the seed file
// (testdata/cqrs-conventions-traces.json) sent twice: per send PlaceOrder x2 and CancelOrder x1; GetOrder
// 3 and 4 ms, ListOrders 25 ms; OrderSummary applies with 40 and 120 ms lag.
var seedQueries = []struct {
	name, promql, label string
	// truth is the exact value per label for a rate, or the true quantile of the observations for a
	// histogram_quantile (checked to lie in the histogram bucket that holds it).
	truth  map[string]float64
	bucket string // the histogram's _bucket series, for a quantile
}{
	{"write-side command throughput", `sum(rate(cqrs_command_total[5m])) by (command_type)`,
		"command_type", map[string]float64{"PlaceOrder": 2, "CancelOrder": 1}, ""},
	{"read-side query latency p95", `histogram_quantile(0.95,
  sum(rate(cqrs_query_duration_bucket[5m])) by (le, query_type)
)`, "query_type", map[string]float64{"GetOrder": 4, "ListOrders": 25}, "cqrs_query_duration_bucket"},
	{"projection lag p99", `histogram_quantile(0.99,
  sum(rate(cqrs_projection_lag_bucket[5m])) by (le, projection_name)
)`, "projection_name", map[string]float64{"OrderSummary": 120}, "cqrs_projection_lag_bucket"},
}

// TestSeedPromQLAgainstRealPrometheus scrapes otelcol-es with a real Prometheus server and runs the seed's
// three PromQL queries through its HTTP API, against what the spans sent imply:
//   - command throughput: PlaceOrder's rate is exactly twice CancelOrder's (both counters move at the same
//     flushes and are scraped together, so rate()'s window and extrapolation are the same for both);
//   - each latency quantile lies in the histogram bucket that holds the true quantile of the durations sent
//     (the stated tolerance: histogram_quantile interpolates inside that bucket).
func TestSeedPromQLAgainstRealPrometheus(t *testing.T) {
	promBin := tb.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, promBin, []string{c.Prom})

	// rate() needs an increase between two scrapes: send, let Prometheus see the first values, send again,
	// and wait until it has scraped the final counts.
	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(seed))
	waitPromValue(ctx, t, prom, `sum(cqrs_command_total{command_type="PlaceOrder"})`, 2)
	waitPromValue(ctx, t, prom, `sum(cqrs_projection_lag_count{projection_name="OrderSummary"})`, 2)
	tb.Send(ctx, t, c, tb.HTTPProto, tb.WithFreshIDs(seed))
	waitPromValue(ctx, t, prom, `sum(cqrs_command_total{command_type="PlaceOrder"})`, 4)
	waitPromValue(ctx, t, prom, `sum(cqrs_command_total{command_type="CancelOrder"})`, 2)
	waitPromValue(ctx, t, prom, `sum(cqrs_query_duration_count{query_type="GetOrder"})`, 4)
	waitPromValue(ctx, t, prom, `sum(cqrs_query_duration_count{query_type="ListOrders"})`, 2)
	waitPromValue(ctx, t, prom, `sum(cqrs_projection_lag_count{projection_name="OrderSummary"})`, 4)

	for _, q := range seedQueries {
		t.Run(q.name, func(t *testing.T) {
			want := make([]string, 0, len(q.truth))
			for l := range q.truth {
				want = append(want, l)
			}
			res := tb.WaitForQuery(ctx, t, prom, q.promql, q.label, want, true)
			t.Logf("%s -> %+v", q.promql, res)
			got := map[string]float64{}
			for _, r := range res {
				s, _ := r.Value[1].(string)
				v, err := strconv.ParseFloat(s, 64)
				require.NoError(t, err)
				got[r.Metric[q.label]] = v
			}
			if q.bucket == "" {
				assert.InDelta(t, q.truth["PlaceOrder"]/q.truth["CancelOrder"], got["PlaceOrder"]/got["CancelOrder"], 1e-9,
					"PlaceOrder's rate over CancelOrder's: %v", got)
				return
			}
			for label, truth := range q.truth {
				lo, hi := bucketOf(ctx, t, prom, fmt.Sprintf(`%s{%s=%q}`, q.bucket, q.label, label), truth)
				assert.Truef(t, got[label] > lo && got[label] <= hi, "%s=%s: %v is outside the bucket (%v, %v] holding the true %v",
					q.label, label, got[label], lo, hi, truth)
			}
		})
	}
}

// bucketOf returns the bounds (lo, hi] of the bucket of the histogram series sel that holds v.
func bucketOf(ctx context.Context, t *testing.T, prom, sel string, v float64) (lo, hi float64) {
	t.Helper()
	res, err := tb.Query(ctx, prom, fmt.Sprintf("count by (le) (%s)", sel))
	require.NoError(t, err)
	var les []float64
	for _, r := range res {
		le, err := strconv.ParseFloat(r.Metric["le"], 64) // "+Inf" parses as +Inf
		require.NoError(t, err)
		les = append(les, le)
	}
	require.NotEmpty(t, les, sel)
	slices.Sort(les)
	lo = math.Inf(-1)
	if les[0] > 0 {
		lo = 0
	}
	for _, le := range les {
		if v <= le {
			return lo, le
		}
		lo = le
	}
	return lo, math.Inf(1)
}
