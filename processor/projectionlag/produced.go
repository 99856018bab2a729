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
// up to its command (join.Climb), then writes each command's total onto it.
func (p *lagProcessor) attributeEvents(tx *join.Tx, td ptrace.Traces) {
	defer p.climb.Reset()
	if !p.climb.Needed(tx) {
		return
	}
	p.commands = p.commands[:0]
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				kind, collect := climbKind(span)
				i := p.climb.Span(join.NewKey(span.TraceID(), span.SpanID()), span.ParentSpanID(), kind)
				if collect {
					p.commands = append(p.commands, commandSpan{span: span, node: i})
				}
			}
		}
	}
	p.climb.Run(tx, p.cfg.Link.MaxDepth)
	for _, c := range p.commands {
		if n := p.climb.Produced(c.node); n > 0 {
			c.span.Attributes().PutInt(semconv.AttrEventsCount, n)
		}
	}
	clear(p.commands) // drop the spans
}

// commandSpan is a command of the batch whose events are counted from the writes beneath it.
type commandSpan struct {
	span ptrace.Span
	node int32
}

// climbKind says what a span is to the event counts climbing through it, and whether its total is to be
// written on it: a successful command that names no events itself.
func climbKind(span ptrace.Span) (join.ClimbKind, bool) {
	attrs := span.Attributes()
	if spanattr.Str(attrs, semconv.AttrSide) != semconv.SideWrite || spanattr.Str(attrs, semconv.AttrCommandType) == "" {
		if semconv.IsEventWrite(span.Name()) {
			return join.Covering, false
		}
		return join.Passing, false
	}
	_, own := attrs.Get(semconv.AttrEventsCount)
	own = own || hasDomainEvents(span)
	return join.Collecting, !own && span.Status().Code() != ptrace.StatusCodeError
}

func hasDomainEvents(span ptrace.Span) bool {
	for _, ev := range span.Events().All() {
		if ev.Name() == semconv.EventDomainEventProduced {
			return true
		}
	}
	return false
}
