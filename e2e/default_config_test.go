package e2e

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed-000 file holds, per send: PlaceOrder x2 (success, 2+1 events, 12+8 ms), CancelOrder x1 (error),
// GetOrder x2 (3+4 ms, 1 result each), ListOrders x1 (25 ms, 5 results), and two OrderSummary projection
// applies of OrderPlaced with 40 and 120 ms lag. See testdata/README.md.
func TestDefaultConfigSeed000OverEveryTransport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startCollector(t, nil)
	c.waitReady(t)

	seed := loadTraces(t, "seed000-traces.json")
	transports := []transport{viaGRPC, viaHTTPProto, viaHTTPJSON}
	for _, via := range transports {
		send(ctx, t, c, via, withFreshIDs(seed))
	}
	sent := time.Now()
	n := float64(len(transports))

	// The contract: metrics reach /metrics within 15 s of the spans arriving.
	mf := waitForSample(ctx, t, "http://"+c.prom+"/metrics", 15*time.Second,
		"cqrs_command_total", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2*n)
	t.Logf("metrics visible %v after the last send", time.Since(sent).Round(time.Millisecond))

	svc := "order-service"
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"cqrs_command_total", map[string]string{"command_type": "CancelOrder", "command_status": "error"}, 1 * n},
		{"cqrs_command_duration", map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2 * n},
		{"cqrs_events_produced", map[string]string{"command_type": "PlaceOrder"}, 3 * n},
		{"cqrs_query_total", map[string]string{"query_type": "GetOrder", "query_status": "success"}, 2 * n},
		{"cqrs_query_total", map[string]string{"query_type": "ListOrders", "query_status": "success"}, 1 * n},
		{"cqrs_query_duration", map[string]string{"query_type": "GetOrder", "query_status": "success"}, 2 * n},
		{"cqrs_query_result_size", map[string]string{"query_type": "ListOrders"}, 1 * n},
		{"cqrs_projection_lag", map[string]string{"projection_name": "OrderSummary", "event_type": "OrderPlaced"}, 2 * n},
	} {
		labels := withLabel(tc.labels, "service_name", svc)
		got, ok := sample(mf, tc.metric, labels)
		if assert.Truef(t, ok, "no series %s%v", tc.metric, labels) {
			assert.Equalf(t, tc.want, got, "%s%v", tc.metric, labels)
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
	} {
		got, ok := histogramSum(mf, tc.metric, tc.labels)
		if assert.Truef(t, ok, "no histogram %s%v", tc.metric, tc.labels) {
			assert.InDeltaf(t, tc.want, got, 1e-6, "sum of %s%v", tc.metric, tc.labels)
		}
	}
}

// waitForSample scrapes url until the series reaches want, and returns that scrape.
func waitForSample(ctx context.Context, t *testing.T, url string, within time.Duration, metric string, labels map[string]string, want float64) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(within)
	var last float64
	for {
		mf, err := scrape(ctx, url)
		if err == nil {
			if v, ok := sample(mf, metric, labels); ok {
				last = v
				if v == want {
					return mf
				}
			}
		}
		if time.Now().After(deadline) {
			require.Failf(t, "series not reached", "%s%v = %v after %v, want %v (last scrape error: %v)", metric, labels, last, within, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}
