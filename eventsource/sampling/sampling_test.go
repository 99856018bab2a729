package sampling

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestRatioRefusesOutOfRange(t *testing.T) {
	for _, r := range []float64{0, -0.1, 1.01, math.NaN(), math.Inf(1)} {
		_, err := Ratio(r)
		assert.ErrorContains(t, err, "sampling ratio must be in (0, 1]", "ratio %v", r)
	}
	_, err := Ratio(1)
	assert.NoError(t, err)
}

// The threshold as the specification encodes it: (1 - ratio) x 2^56, 14 hex digits, trailing zeros dropped.
func TestThresholdEncoding(t *testing.T) {
	for _, tt := range []struct {
		ratio float64
		th    string
	}{{1, "0"}, {0.5, "8"}, {0.25, "c"}, {0.1, "e6666666666668"}} {
		s, err := Ratio(tt.ratio)
		require.NoError(t, err)
		assert.Contains(t, s.Description(), "th:"+tt.th, "ratio %v", tt.ratio)
	}
}

func traceID(low56 uint64) trace.TraceID {
	var id trace.TraceID
	id[0] = 0xab
	binary.BigEndian.PutUint64(id[8:], low56)
	return id
}

func decide(t *testing.T, s sdktrace.Sampler, ctx context.Context, id trace.TraceID) sdktrace.SamplingResult {
	t.Helper()
	return s.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: id, Name: "command.PlaceOrder"})
}

// A new trace is kept exactly when its randomness reaches the threshold, and then says so in its
// tracestate (keeping other vendors' entries and other ot keys); a child follows its parent, tracestate and all.
func TestDecisionAndTracestate(t *testing.T) {
	s, err := Ratio(0.5)
	require.NoError(t, err)
	const half = uint64(1) << 55
	assert.Equal(t, sdktrace.Drop, decide(t, s, context.Background(), traceID(half-1)).Decision)
	kept := decide(t, s, context.Background(), traceID(half))
	require.Equal(t, sdktrace.RecordAndSample, kept.Decision)
	assert.Equal(t, "th:8", kept.Tracestate.Get("ot"))

	// An explicit rv wins over the trace id; other keys and vendors stay.
	ts, err := trace.ParseTraceState("ot=rv:ffffffffffffff;x:1,vendor=v")
	require.NoError(t, err)
	parent := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceState: ts}))
	res := decide(t, s, parent, traceID(0))
	require.Equal(t, sdktrace.RecordAndSample, res.Decision, "rv above the threshold")
	assert.Equal(t, "th:8;rv:ffffffffffffff;x:1", res.Tracestate.Get("ot"))
	assert.Equal(t, "v", res.Tracestate.Get("vendor"))

	// A child of a sampled parent is sampled and carries the parent's th.
	psc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(half), SpanID: trace.SpanID{1},
		TraceFlags: trace.FlagsSampled, TraceState: kept.Tracestate})
	child := decide(t, s, trace.ContextWithSpanContext(context.Background(), psc), psc.TraceID())
	assert.Equal(t, sdktrace.RecordAndSample, child.Decision)
	assert.Equal(t, "th:8", child.Tracestate.Get("ot"))
	// A child of a parent that was not sampled is not, whatever its trace id.
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(maxThreshold - 1), SpanID: trace.SpanID{1}})
	assert.Equal(t, sdktrace.Drop, decide(t, s, trace.ContextWithSpanContext(context.Background(), unsampled), unsampled.TraceID()).Decision)
}

// Over 100,000 new traces with random ids the kept share is the ratio, within 3 standard deviations
// (ids from a fixed seed: the outcome is the same on every run).
func TestKeptShare(t *testing.T) {
	s, err := Ratio(0.1)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 100_000
	kept := 0
	for range n {
		var id trace.TraceID
		binary.BigEndian.PutUint64(id[:8], rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], rng.Uint64())
		if decide(t, s, context.Background(), id).Decision == sdktrace.RecordAndSample {
			kept++
		}
	}
	mean, sd := n*0.1, math.Sqrt(n*0.1*0.9)
	t.Logf("kept %d of %d (expected %.0f, sd %.1f: %+.2f sd)", kept, n, mean, sd, (float64(kept)-mean)/sd)
	assert.InDelta(t, mean, float64(kept), 3*sd)
}
