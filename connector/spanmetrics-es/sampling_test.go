package spanmetricses

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/sampling"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// 100,000 commands, each its own trace, sampled at 10 % by the runtime's sampler (eventsource/sampling),
// which writes ot=th into the kept traces' tracestate: the connector's extrapolated cqrs.command.total is
// within 3 standard deviations of the 100,000 that ran (trace ids from a fixed seed, so every run sees the
// same ids and the same deviation, which the log states).
func TestRuntimeSampledCommandsExtrapolate(t *testing.T) {
	const n, ratio = 100_000, 0.1
	sampler, err := sampling.Ratio(ratio)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 5))
	b := testbatch.New("orders-api")
	kept := 0
	for i := range n {
		id := randomTraceID(rng)
		res := sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: id, Name: "command.PlaceOrder"})
		if res.Decision != sdktrace.RecordAndSample {
			continue
		}
		kept++
		s := b.Command("PlaceOrder", uint64(i+1), 5, nil)
		s.SetTraceID(pcommon.TraceID(id))
		s.TraceState().FromRaw(res.Tracestate.String())
	}
	md := consumeAndFlush(t, createDefaultConfig().(*Config), b)
	got := points(md, semconv.MetricCommandTotal)[fmt.Sprint(map[string]any{
		semconv.MetricAttrCommandType: "PlaceOrder", semconv.MetricAttrCommandStatus: "success"})]
	// Each kept command counts 1/ratio: the estimate's standard deviation is sqrt(n (1-ratio) / ratio).
	sd := math.Sqrt(n * (1 - ratio) / ratio)
	t.Logf("kept %d of %d; extrapolated cqrs.command.total %d (truth %d, sd %.0f: %+.2f sd, %+.2f %%)",
		kept, n, got, n, sd, (float64(got)-n)/sd, 100*(float64(got)-n)/n)
	assert.Equal(t, int64(kept*10), got, "each kept command weighs 1/ratio")
	assert.InDelta(t, n, float64(got), 3*sd)
}

// An SDK sampling by ratio without writing a threshold (eventsource-py's TraceIdRatioBased; here the Go
// SDK's, the same decision): with assumed_sampling_ratio for that service, 100,000 commands at 10 % are
// estimated within 3 standard deviations. A span that does state a threshold is weighed by it, and another
// service's spans count 1.
func TestAssumedSamplingRatio(t *testing.T) {
	const n, ratio = 100_000, 0.1
	sdkSampler := sdktrace.TraceIDRatioBased(ratio)
	rng := rand.New(rand.NewPCG(9, 4))
	b := testbatch.New("eventsource-app")
	kept := 0
	for i := range n {
		id := randomTraceID(rng)
		if sdkSampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: id}).Decision != sdktrace.RecordAndSample {
			continue
		}
		kept++
		b.Command("PlaceOrder", uint64(i+1), 5, nil).SetTraceID(pcommon.TraceID(id))
	}
	b.Command("Stated", n+1, 5, nil).TraceState().FromRaw("ot=th:c") // a threshold wins: 4
	b.Resource("other-service")
	b.Command("Other", n+2, 5, nil)

	cfg := createDefaultConfig().(*Config)
	cfg.AssumedSamplingRatio = map[string]float64{"eventsource-app": ratio}
	require.NoError(t, cfg.Validate())
	md := consumeAndFlush(t, cfg, b)
	count := func(ct string) int64 {
		return points(md, semconv.MetricCommandTotal)[fmt.Sprint(map[string]any{
			semconv.MetricAttrCommandType: ct, semconv.MetricAttrCommandStatus: "success"})]
	}
	got := count("PlaceOrder")
	sd := math.Sqrt(n * (1 - ratio) / ratio)
	t.Logf("kept %d of %d; extrapolated %d (sd %.0f: %+.2f sd)", kept, n, got, sd, (float64(got)-n)/sd)
	assert.Equal(t, int64(kept*10), got)
	assert.InDelta(t, n, float64(got), 3*sd)
	assert.Equal(t, int64(4), count("Stated"))
	assert.Equal(t, int64(1), count("Other"))
}

// randomTraceID is a trace id from rng: a fixed seed gives every run the same ids, and so the same outcome.
func randomTraceID(rng *rand.Rand) trace.TraceID {
	var id trace.TraceID
	binary.BigEndian.PutUint64(id[:8], rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], rng.Uint64())
	return id
}
