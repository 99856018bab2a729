package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// config/split-sides.yaml routes each side's metrics to its own exporter: each endpoint carries its side only.
func TestSplitSidesConfigRoutesEachSideToItsOwnExporter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil, "--config", filepath.Join("..", "config", "split-sides.yaml"))
	c.WaitReady(t)
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))

	write := tb.WaitForValue(ctx, t, "http://"+c.PromWrite+"/metrics", 30*time.Second,
		"cqrs_command_total", map[string]string{"command_type": "PlaceOrder"}, 2)
	read := tb.WaitForValue(ctx, t, "http://"+c.PromRead+"/metrics", 30*time.Second,
		"cqrs_query_total", map[string]string{"query_type": "GetOrder"}, 2)
	projection := tb.WaitForValue(ctx, t, "http://"+c.PromProjection+"/metrics", 30*time.Second,
		"cqrs_projection_lag", map[string]string{"projection_name": "OrderSummary"}, 2)

	for name, mf := range map[string]tb.Families{"write": write, "read": read, "projection": projection} {
		for _, metric := range []string{"cqrs_command_total", "cqrs_events_produced", "cqrs_query_total", "cqrs_query_result_size", "cqrs_projection_lag"} {
			want := map[string]string{
				"cqrs_command_total": "write", "cqrs_events_produced": "write",
				"cqrs_query_total": "read", "cqrs_query_result_size": "read",
				"cqrs_projection_lag": "projection",
			}[metric] == name
			assert.Equalf(t, want, mf.Has(metric), "%s endpoint has %s", name, metric)
		}
	}
}
