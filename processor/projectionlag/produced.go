package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
)

// Events produced by a command. A command span that names no event count of its own gets the sum of the
// event counts of the outermost writes beneath it (appends, repository saves) as cqrs.events.count, which
// spanmetrics_es observes. SDKs export children first, so those writes often arrive a batch before their
// command: their counts then wait in the join engine (Tx.AddProduced), climbing one parent at a time as
// the spans above them arrive, and no span waits.

// eventWrite is a write of this batch naming how many events it stored.
type eventWrite struct {
	key    join.Key
	parent [8]byte
	n      int64
}

// batchSpan is what the climb needs of a span of the batch.
type batchSpan struct {
	span     ptrace.Span
	parent   [8]byte
	command  bool  // a command span (side write with a command type)
	write    bool  // an event write: the writes above the first carry the same events
	own      bool  // a command that names its events itself: nothing is added
	produced int64 // events found for a command
}

// noteEventWrite records, in pass 1, a write span that stored events.
func (p *lagProcessor) noteEventWrite(span ptrace.Span, key join.Key, duplicate bool) {
	if duplicate || span.Status().Code() == ptrace.StatusCodeError || !semconv.IsEventWrite(span.Name()) {
		// A failed write stored nothing; a span seen again was counted the first time.
		return
	}
	v, ok := span.Attributes().Get(semconv.AttrESEventCount)
	if !ok {
		return
	}
	if n, ok := spanattr.Num(v); ok && n >= 1 && n < 1<<31 {
		p.writes = append(p.writes, eventWrite{key: key, parent: span.ParentSpanID(), n: int64(n)})
	}
}

// attributeEvents moves every event count of this batch, and every one waiting for a span of this batch,
// up to its command, then writes each command's total onto it.
func (p *lagProcessor) attributeEvents(tx *join.Tx, td ptrace.Traces) {
	waiting := tx.HasProduced()
	if len(p.writes) == 0 && !waiting {
		return
	}
	if p.spans == nil {
		p.spans = make(map[join.Key]*batchSpan)
	}
	p.spanBuf = p.spanBuf[:0]
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				p.spanBuf = append(p.spanBuf, batchSpan{span: span, parent: span.ParentSpanID()})
			}
		}
	}
	for i := range p.spanBuf {
		b := &p.spanBuf[i]
		attrs := b.span.Attributes()
		b.write = semconv.IsEventWrite(b.span.Name())
		b.command = spanattr.Str(attrs, semconv.AttrSide) == semconv.SideWrite && spanattr.Str(attrs, semconv.AttrCommandType) != ""
		if b.command {
			_, b.own = attrs.Get(semconv.AttrEventsCount)
			b.own = b.own || hasDomainEvents(b.span)
		}
		p.spans[join.NewKey(b.span.TraceID(), b.span.SpanID())] = b
	}
	for _, w := range p.writes {
		p.climb(tx, w.key.WithSpan(w.parent), w.n)
	}
	if waiting {
		for k, b := range p.spans {
			if n, ok := tx.TakeProduced(k); ok {
				p.deliver(tx, k, b, n)
			}
		}
	}
	for i := range p.spanBuf {
		b := &p.spanBuf[i]
		if b.command && !b.own && b.produced > 0 && b.span.Status().Code() != ptrace.StatusCodeError {
			b.span.Attributes().PutInt(semconv.AttrEventsCount, b.produced)
		}
	}
	clear(p.spans)
	clear(p.spanBuf) // drop the spans
	p.writes = p.writes[:0]
}

// deliver hands n events to a span that arrived: a command keeps them, a write above a write drops them
// (it names the same events itself), anything else passes them on to its parent.
func (p *lagProcessor) deliver(tx *join.Tx, k join.Key, b *batchSpan, n int64) {
	switch {
	case b.command:
		b.produced += n
	case b.write:
	default:
		p.climb(tx, k.WithSpan(b.parent), n)
	}
}

// climb takes n events up from the span k, through this batch, to their command; where the chain leaves
// the batch, they wait for the next span in the engine.
func (p *lagProcessor) climb(tx *join.Tx, k join.Key, n int64) {
	for range p.cfg.Link.MaxDepth {
		if k.SpanID() == [8]byte{} {
			return // a root without a command: no command to count them for
		}
		b, ok := p.spans[k]
		if !ok {
			tx.AddProduced(k, n)
			return
		}
		if b.command || b.write {
			p.deliver(tx, k, b, n)
			return
		}
		k = k.WithSpan(b.parent)
	}
}

func hasDomainEvents(span ptrace.Span) bool {
	for _, ev := range span.Events().All() {
		if ev.Name() == semconv.EventDomainEventProduced {
			return true
		}
	}
	return false
}
