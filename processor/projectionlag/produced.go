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
		p.climb.Write(key, span.ParentSpanID(), int64(n))
	}
}

// attributeEvents moves every event count of this batch, and every one waiting for a span of this batch,
// up to its command (join.Climb, whose spans pass 1 added), then writes each command's total onto it.
func (p *lagProcessor) attributeEvents(tx *join.Tx) {
	defer func() {
		p.climb.Reset()
		clear(p.commands) // drop the spans
		p.commands = p.commands[:0]
	}()
	if !p.climb.Needed(tx) {
		return
	}
	p.climb.Run(tx, p.cfg.Link.MaxDepth)
	for _, c := range p.commands {
		if n := p.climb.Produced(c.node); n > 0 {
			c.span.Attributes().PutInt(semconv.AttrEventsCount, n)
		}
	}
}

// commandSpan is a command of the batch whose events are counted from the writes beneath it.
type commandSpan struct {
	span ptrace.Span
	node int32
}

// climbSpan adds the span to the batch's climb, in pass 1: what it is to the event counts climbing through
// it, and whether its total is to be written on it (a successful command that names no events itself).
// side and commandType are the span's attributes, read once by observe.
func (p *lagProcessor) climbSpan(span ptrace.Span, key join.Key, name, side, commandType string) {
	kind := join.Passing
	switch {
	case side == semconv.SideWrite && commandType != "":
		kind = join.Collecting
	case semconv.IsEventWrite(name):
		kind = join.Covering
	}
	i := p.climb.Span(key, span.ParentSpanID(), kind)
	if kind != join.Collecting || span.Status().Code() == ptrace.StatusCodeError {
		return
	}
	if _, own := span.Attributes().Get(semconv.AttrEventsCount); own || hasDomainEvents(span) {
		return
	}
	p.commands = append(p.commands, commandSpan{span: span, node: i})
}

func hasDomainEvents(span ptrace.Span) bool {
	for _, ev := range span.Events().All() {
		if ev.Name() == semconv.EventDomainEventProduced {
			return true
		}
	}
	return false
}
