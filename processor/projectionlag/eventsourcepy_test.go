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

// TestEventsourcePyKafkaLagAcrossInstances: the live apply's lag is the same whether the writer's and
// the consumer's spans reach one instance in one batch, or arrive consumer first, as an SDK per process
// exports them (the apply goes on at once; the writer's span that completes the join carries the lag).
// The apply names its event, so the lag is measured from the first write span that names it (the
// outbox add), not from the end of the save the Kafka chain leads to.
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
	assert.InDelta(t, 38.0, lagOf(one), 1e-9, "apply start (52 ms) - outbox add end (14 ms)")

	// Consumer's service first, writer's service later (a fresh copy: the first run annotated in).
	in = eventsourcePyInput()
	split := newHarness(t, nil)
	writer, consumer := ptrace.NewTraces(), ptrace.NewTraces()
	in.CopyTo(writer)
	in.CopyTo(consumer)
	writer.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return serviceOf(rs) != "orders-api" })
	consumer.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return serviceOf(rs) == "orders-api" })
	split.consume(consumer)
	assert.Equal(t, -1.0, lagOf(split), "the apply went on before its producer arrived")
	split.advance(time.Second)
	split.consume(writer)
	late := split.applied(semconv.SpanRepositorySave)
	require.Len(t, late, 1, "the save the apply's Kafka chain waited for carries its lag")
	v, _ := late[0].Get(semconv.AttrProjectionLagMs)
	assert.InDelta(t, 38.0, v.Double(), 1e-9)
	assert.Equal(t, int64(1), split.counter("link_pairs"))
	assert.Equal(t, int64(1), split.counter("link_late_pairs"))
}

func serviceOf(rs ptrace.ResourceSpans) string {
	v, _ := rs.Resource().Attributes().Get(semconv.AttrServiceName)
	return v.Str()
}
