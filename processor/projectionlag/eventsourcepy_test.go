package projectionlag

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// TestHostileInputCounted: every hostile span of hostileInput passes through, none gets a lag, and each
// is counted: three unusable span times (a start of 2^64-1, an end before the start, a producer ending
// before it starts) and four unusable positions (2^63-1 plain, as a checkpoint and as a token, and a
// multi-key token).
func TestHostileInputCounted(t *testing.T) {
	h := newHarness(t, nil)
	in := hostileInput()
	n := in.SpanCount()
	h.consume(in)
	require.NoError(t, h.proc.Shutdown(context.Background()))
	got := 0
	for _, td := range h.sink.AllTraces() {
		got += td.SpanCount()
	}
	assert.Equal(t, n, got, "every span passes")
	for _, name := range []string{"projection.far_future", "projection.backwards", "projection.after_bad_producer"} {
		noAttr(t, h.one(name), semconv.AttrProjectionLagMs)
	}
	assert.Equal(t, int64(3), h.counter("invalid_timestamps"))
	assert.Equal(t, int64(4), h.counter("invalid_positions"))
	noAttr(t, h.one(semconv.SpanCheckpointUpdate), semconv.AttrProjectionPositionsBehind)
}

// TestEventsourcePyKafkaLagAcrossInstances: the live apply's lag through the real Kafka chain
// (process_event ← dispatch ← consume ← remote repository.save) is the same whether the writer's and the
// consumer's spans reach one instance in one batch, or arrive consumer first (held until the writer's
// batch comes), as with a trace-id load balancer in front of a gateway tier.
func TestEventsourcePyKafkaLagAcrossInstances(t *testing.T) {
	in := eventsourcePyInput()
	lagOf := func(h *harness) float64 {
		for _, s := range h.spans()[semconv.SpanLiveRunnerProcessEvent] {
			if v, ok := s.Attributes().Get(semconv.AttrProjectionLagMs); ok {
				return v.Double()
			}
		}
		return -1
	}
	one := newHarness(t, nil)
	one.consume(in)
	assert.InDelta(t, 22.0, lagOf(one), 1e-9, "apply start (52 ms) - save end (30 ms)")

	// Consumer's service first, writer's service later.
	split := newHarness(t, nil)
	writer, consumer := ptrace.NewTraces(), ptrace.NewTraces()
	in.CopyTo(writer)
	in.CopyTo(consumer)
	writer.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return serviceOf(rs) != "orders-api" })
	consumer.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return serviceOf(rs) == "orders-api" })
	split.consume(consumer)
	split.advance(time.Second)
	split.consume(writer)
	split.advance(time.Second)
	assert.InDelta(t, 22.0, lagOf(split), 1e-9)
	assert.Equal(t, int64(1), split.counter("link_pairs"))
}

func serviceOf(rs ptrace.ResourceSpans) string {
	v, _ := rs.Resource().Attributes().Get(semconv.AttrServiceName)
	return v.Str()
}
