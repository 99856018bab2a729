package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// The seed-000 file holds, per send: PlaceOrder x2 (success, 2+1 events, 12+8 ms), CancelOrder x1 (error),
// GetOrder x2 (3+4 ms, 1 result each), ListOrders x1 (25 ms, 5 results), and two OrderSummary projection
// applies of OrderPlaced with 40 and 120 ms lag. See testdata/README.md.
func TestDefaultConfigCQRSConventionsOverEveryTransport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	transports := []tb.Transport{tb.GRPC, tb.HTTPProto, tb.HTTPJSON}
	for _, via := range transports {
		tb.Send(ctx, t, c, via, tb.WithFreshIDs(seed))
	}
	n := float64(len(transports))

	// How soon metrics show up is measured by BenchmarkMetricsVisible, not asserted here.
	mf := tb.WaitForValue(ctx, t, "http://"+c.Prom+"/metrics", 90*time.Second,
		"cqrs_command_total", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2*n)

	for _, tc := range seedCounts(n) {
		got, ok := mf.Value(tc.metric, tc.labels)
		if assert.Truef(t, ok, "no series %s%v", tc.metric, tc.labels) {
			assert.Equalf(t, tc.want, got, "%s%v", tc.metric, tc.labels)
		}
	}
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"cqrs_command_duration", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, (12 + 8) * n},
		{"cqrs_query_duration", map[string]string{"query_type": "GetOrder", "query_status": "success"}, (3 + 4) * n},
		{"cqrs_query_result_size", map[string]string{"query_type": "ListOrders"}, 5 * n},
		{"cqrs_projection_lag", map[string]string{"projection_name": "OrderSummary", "event_type": "OrderPlaced"}, (40 + 120) * n},
		// command end -> projection apply end: 55 - 12 and 230 - 108.
		{"cqrs_consistency_delay", map[string]string{"command_type": "PlaceOrder", "projection_name": "OrderSummary"}, (43 + 122) * n},
	} {
		got, ok := mf.HistogramSum(tc.metric, tc.labels)
		if assert.Truef(t, ok, "no histogram %s%v", tc.metric, tc.labels) {
			assert.InDeltaf(t, tc.want, got, 1e-6, "sum of %s%v", tc.metric, tc.labels)
		}
	}
}

// Seed 001's eventsource-py shapes carry no cqrs.* attribute at all; the lag comes from the parent chain
// (apply span -> ... -> consume -> publish), the positions behind from append and checkpoint spans.
func TestDefaultConfigEventsourceConventions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	tb.Send(ctx, t, c, tb.HTTPJSON, tb.WithFreshIDs(tb.LoadTraces(t, "eventsource-conventions-traces.json")))

	labels := map[string]string{"projection_name": "TaskListProjection", "service_name": "task-projections"}
	mf := tb.WaitForValue(ctx, t, "http://"+c.Prom+"/metrics", 90*time.Second,
		"cqrs_projection_total", withLabel(labels, "status", "success"), 1)
	lag, ok := mf.HistogramSum("cqrs_projection_lag", withLabel(labels, "event_type", "TaskCreated"))
	if assert.True(t, ok, "no cqrs_projection_lag for TaskListProjection") {
		assert.InDelta(t, 95-17, lag, 1e-6, "apply start - publish end")
	}
	behind, ok := mf.Value("cqrs_projection_positions_behind", labels)
	if assert.True(t, ok, "no cqrs_projection_positions_behind for TaskListProjection") {
		assert.Zero(t, behind)
	}
	assert.False(t, mf.Has("cqrs_query_total"), "a bare repository.load is read side but not a query")
	assert.False(t, mf.Has("cqrs_command_total"), "seed 001 has no command spans")
}

// BenchmarkMetricsVisible reports how long seed 000's spans take, from the send over OTLP/gRPC to the default
// config's /metrics showing their commands (the connector's flush and the exporter): the time per op is that
// latency. `go test ./e2e -run '^$' -bench MetricsVisible -benchtime 5x`.
func BenchmarkMetricsVisible(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := tb.StartCollector(b, collectorBin, nil)
	c.WaitReady(b)
	seed := tb.LoadTraces(b, "cqrs-conventions-traces.json")
	labels := map[string]string{"service_name": "order-service", "command_type": "PlaceOrder", "command_status": "success"}
	var sent float64
	for b.Loop() {
		tb.Send(ctx, b, c, tb.GRPC, tb.WithFreshIDs(seed))
		sent += 2 // PlaceOrder x2 per send
		tb.WaitForValue(ctx, b, "http://"+c.Prom+"/metrics", 5*time.Minute, "cqrs_command_total", labels, sent)
	}
}

// seriesCount is one series' expected value (counters) or count (histograms).
type seriesCount struct {
	metric string
	labels map[string]string
	want   float64
}

// seedCounts are the CQRS series testdata/cqrs-conventions-traces.json gives, sent n times (the first:
// cqrs_command_total{PlaceOrder,success} = 2n, whose wait every caller starts with).
func seedCounts(n float64) []seriesCount {
	out := []seriesCount{
		{"cqrs_command_total", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2 * n},
		{"cqrs_command_total", map[string]string{"command_type": "CancelOrder", "command_status": "error"}, 1 * n},
		{"cqrs_command_duration", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2 * n},
		{"cqrs_events_produced", map[string]string{"command_type": "PlaceOrder"}, 3 * n},
		{"cqrs_query_total", map[string]string{"query_type": "GetOrder", "query_status": "success"}, 2 * n},
		{"cqrs_query_total", map[string]string{"query_type": "ListOrders", "query_status": "success"}, 1 * n},
		{"cqrs_query_duration", map[string]string{"query_type": "GetOrder", "query_status": "success"}, 2 * n},
		{"cqrs_query_result_size", map[string]string{"query_type": "ListOrders"}, 1 * n},
		{"cqrs_projection_lag", map[string]string{"projection_name": "OrderSummary", "event_type": "OrderPlaced"}, 2 * n},
		{"cqrs_projection_total", map[string]string{"projection_name": "OrderSummary", "status": "success"}, 2 * n},
		{"cqrs_consistency_delay", map[string]string{"command_type": "PlaceOrder", "projection_name": "OrderSummary"}, 2 * n},
	}
	for i := range out {
		out[i].labels = withLabel(out[i].labels, "service_name", "order-service")
	}
	return out
}
