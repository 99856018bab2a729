package projectionlag

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// An append exported before its command: the command, arriving later, carries the append's events as
// cqrs.events.count; a command that names its own count keeps it; a write whose command never comes is
// counted as unattributed after link.ttl.
func TestEventsProducedClimbToTheirCommand(t *testing.T) {
	h := newHarness(t, nil)
	count := func(n int64) map[string]any { return map[string]any{semconv.AttrESEventCount: n} }
	early := newBatch("orders")
	early.write(semconv.SpanRepositorySave, tid(1), sid(2), sid(1), ms(10), ms(30), count(2))
	early.write("sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(12), ms(20), count(2))
	early.write("sqlite_event_store.append_events", tid(2), sid(3), sid(1), ms(12), ms(20), count(5))
	early.write("sqlite_event_store.append_events", tid(3), sid(3), sid(1), ms(12), ms(20), count(4))
	h.consume(early.td)

	late := newBatch("orders")
	late.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(40))
	own := late.command(tid(2), sid(1), "CancelOrder", ms(0), ms(40))
	own.Attributes().PutInt(semconv.AttrEventsCount, 1)
	h.consume(late.td)

	v, ok := h.one("command.PlaceOrder").Attributes().Get(semconv.AttrEventsCount)
	assert.True(t, ok)
	assert.Equal(t, int64(2), v.Int(), "the outermost write's events, once")
	v, _ = h.one("command.CancelOrder").Attributes().Get(semconv.AttrEventsCount)
	assert.Equal(t, int64(1), v.Int(), "a command's own count wins")

	h.advance(2*time.Minute + time.Second)
	assert.Equal(t, int64(4), h.counter("link_events_unattributed"), "trace 3's command never came")
}
