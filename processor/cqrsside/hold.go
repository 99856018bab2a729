package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/internal/hold"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

// heldSpan is a span waiting for its parent: its pdata (sharing the
// Resource and Scope of its incoming ScopeSpans) and what its release needs.
type heldSpan struct {
	hold.Span
	id       pcommon.SpanID
	proc     uint32 // processKey of the span's resource
	fallback matcher.Side
}

type waiter = hold.Waiter[pcommon.SpanID, heldSpan]

// heldBuffer is the bounded wait buffer: a hold.Waits keyed by the parent
// span id each span waits for. Every span waits the same time, so arrival
// order is deadline order: the oldest is the next to time out and the first
// to release early.
type heldBuffer struct {
	*hold.Waits[pcommon.SpanID, heldSpan]
	// live and byParent mirror the number of spans held and of parents
	// waited for after each operation (the gauge reads live).
	live, byParent int
}

func newHeldBuffer() heldBuffer {
	return heldBuffer{Waits: hold.NewWaits[pcommon.SpanID, heldSpan]()}
}

// sync refreshes the mirrors. mu must be held.
func (b *heldBuffer) sync() {
	b.live, b.byParent = b.Len(), b.Keys()
}

// record adds what the hold did to c. mu must be held.
func (b *heldBuffer) record(c *counts) {
	hc := b.TakeCounts()
	c.timeout += hc.Released[hold.AtDeadline]
	c.early[earlyBufferFull] += hc.Released[hold.Overflow]
	c.early[earlyShutdown] += hc.Released[hold.Shutdown]
	b.sync()
}
