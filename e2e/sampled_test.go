package e2e

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// config/sampled.yaml: 10,002 commands (seed 000 sent 3,334 times, fresh ids each time) reach a real
// Prometheus exactly, counted from every span, while the trace backend behind tail_sampling receives every
// trace with an error (the failed CancelOrder), every trace with a projection lag above the threshold (the
// 120 ms OrderSummary apply, with OTELCOL_ES_SAMPLE_LAG_MS=100; the 40 ms one is not above it), and of the
// six other traces per send the configured 10 %, within 4 standard deviations of the binomial.
func TestSampledConfigExactMetricsKeptTraces(t *testing.T) {
	const sends, percent = 3334, 10
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	backend := tb.StartTraceSink(t)
	backend.Keep()
	c := tb.StartCollector(t, collectorBin, []string{
		"OTELCOL_ES_BACKEND=" + backend.Addr, "OTELCOL_ES_SAMPLE_DECISION_WAIT=2s",
		"OTELCOL_ES_SAMPLE_LAG_MS=100", "OTELCOL_ES_SAMPLE_PERCENT=" + strconv.Itoa(percent),
	}, "--config", filepath.Join("..", "config", "sampled.yaml"))
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, tb.PrometheusBinary(t), []string{c.Prom})

	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	client := ptraceotlp.NewGRPCClient(dialOTLP(t, c.GRPC))
	for range sends {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tb.WithFreshIDs(seed)))
		require.NoError(t, err)
	}

	// Every command counted, from 100 % of the spans.
	want := map[string]float64{"PlaceOrder/success": 2 * sends, "CancelOrder/error": sends}
	var got map[string]float64
	waitFor(t, "every command in Prometheus", func() bool {
		res, err := tb.Query(ctx, prom, `sum by (command_type, command_status) (cqrs_command_total{service_name="order-service"})`)
		if err != nil {
			return false
		}
		got = map[string]float64{}
		for _, r := range res {
			v, _ := strconv.ParseFloat(r.Value[1].(string), 64)
			got[r.Metric["command_type"]+"/"+r.Metric["command_status"]] = v
		}
		return got["PlaceOrder/success"] == want["PlaceOrder/success"] && got["CancelOrder/error"] == want["CancelOrder/error"]
	})
	assert.Equal(t, want, got, "exact counts, whatever the sampling")

	// The kept traces: each of seed 000's traces is one span.
	byName := func() map[string]int {
		n := map[string]int{}
		for _, s := range backend.Kept() {
			name := s.Name()
			if lag, ok := s.Attributes().Get("cqrs.projection.lag_ms"); ok && s.Status().Code() != ptrace.StatusCodeError {
				name += "@" + strconv.FormatFloat(lag.Double(), 'f', -1, 64)
			}
			n[name]++
		}
		return n
	}
	// The sampler has decided every trace sent (its own count), and the backend has what it kept.
	traces := 8.0 * sends
	waitFor(t, "a decision on every trace", func() bool {
		mf, err := tb.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
		return err == nil && mf.Sum("otelcol_processor_tail_sampling_global_count_traces_sampled", nil) == traces
	})
	mf, err := tb.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
	require.NoError(t, err)
	sampled := mf.Sum("otelcol_processor_tail_sampling_global_count_traces_sampled", map[string]string{"sampled": "true"})
	waitFor(t, "every kept trace at the backend", func() bool { return float64(len(backend.Kept())) == sampled })
	kept := byName()
	assert.Equal(t, sends, kept["command.CancelOrder"], "every trace with an error, once")
	assert.Equal(t, sends, kept["projection.OrderSummary@120"], "every trace with a lag above the threshold, once")
	rest := 0
	for name, n := range kept {
		if name != "command.CancelOrder" && name != "projection.OrderSummary@120" {
			rest += n
		}
	}
	trials := 6.0 * sends
	mean, sd := trials*percent/100, math.Sqrt(trials*percent/100*(1-percent/100.0))
	t.Logf("kept %d of %.0f other traces (expected %.0f ± %.0f); by name %v", rest, trials, mean, sd, kept)
	assert.InDelta(t, mean, float64(rest), 4*sd, "the probabilistic share of the rest")
}
