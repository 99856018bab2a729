package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/hold"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
)

// resolution is how far the join got for one projection apply span.
type resolution struct {
	producer      joinEntry
	producerFound bool
	// sameTrace: the producer is in the projection span's trace.
	sameTrace    bool
	command      joinEntry
	commandFound bool
	// candidates counts the links and parent the span could be joined through.
	candidates int
	// waitKeys are the spans whose arrival could take the join further.
	waitKeys []joinKey
}

type walkStatus uint8

const (
	walkDead walkStatus = iota
	walkMissing
	walkFound
)

// resolve joins a projection apply span to its producer: through its links
// first (CQRS conventions), then through its parent chain (eventsource
// runtime conventions: apply ← handle ← dispatch ← consume ← remote publish),
// and from the producer up to its command span.
func (p *lagProcessor) resolve(span ptrace.Span) resolution {
	var r resolution
	if p.producers == nil {
		return r
	}
	tid := span.TraceID()
	var missing []joinKey
	try := func(k joinKey) bool {
		r.candidates++
		e, at, st := p.walk(k)
		switch st {
		case walkFound:
			r.producer, r.producerFound = e, true
			r.sameTrace = [16]byte(at[:16]) == [16]byte(tid)
			p.walkToCommand(&r, at, e)
			return true
		case walkMissing:
			missing = append(missing, at)
		}
		return false
	}
	links := span.Links()
	for i := 0; i < links.Len() && i < maxLinksFollowed; i++ {
		l := links.At(i)
		if l.TraceID().IsEmpty() || l.SpanID().IsEmpty() {
			continue
		}
		if try(newJoinKey(l.TraceID(), l.SpanID())) {
			return r
		}
	}
	if parent := span.ParentSpanID(); !parent.IsEmpty() && !tid.IsEmpty() {
		if try(newJoinKey(tid, parent)) {
			return r
		}
	}
	// Last, the event's own id: eventsource-py's RabbitMQ handle and Redis process spans are roots
	// of new traces, so only the event id ties their applies to the publish or outbox span of the
	// event. Looked up, never waited for: not every bus's producer names the event.
	if k, ok := p.eventKey(span.Attributes()); ok {
		if e, found := p.producers.Get(k); found && e.Kind == kindProducer {
			r.producer, r.producerFound = e, true
			return r
		}
	}
	r.waitKeys = missing
	return r
}

// eventKey keys a write span by the id of the event it carries (eventsource.event.id): two
// independent 64-bit hashes of the id, and a span part no span id is likely to have.
func (p *lagProcessor) eventKey(attrs pcommon.Map) (joinKey, bool) {
	id := spanattr.Str(attrs, semconv.AttrESEventID)
	if id == "" {
		return joinKey{}, false
	}
	var k joinKey
	binary.LittleEndian.PutUint64(k[0:8], maphash.String(p.eventSeeds[0], id))
	binary.LittleEndian.PutUint64(k[8:16], maphash.String(p.eventSeeds[1], id))
	copy(k[16:], eventKeyMarker[:])
	return k, true
}

var eventKeyMarker = [8]byte{0xe7, 'e', 'v', 'e', 'n', 't', 0xe7, 0}

// walk follows relays from k to the first producer.
func (p *lagProcessor) walk(k joinKey) (joinEntry, joinKey, walkStatus) {
	for range p.cfg.Link.MaxDepth {
		e, ok := p.producers.Get(k)
		if !ok {
			return e, k, walkMissing
		}
		switch e.Kind {
		case kindProducer:
			return e, k, walkFound
		case kindRelay:
			if pcommon.SpanID(e.Parent).IsEmpty() {
				return e, k, walkDead
			}
			k = k.withSpan(e.Parent)
		default:
			return e, k, walkDead
		}
	}
	return joinEntry{}, k, walkDead
}

// walkToCommand climbs from a producer (an append, a save, a publish) to the
// command span above it; when an ancestor is not stored yet it records the
// key to wait for.
func (p *lagProcessor) walkToCommand(r *resolution, k joinKey, e joinEntry) {
	for range p.cfg.Link.MaxDepth {
		if e.Command != 0 {
			r.command, r.commandFound = e, true
			return
		}
		if pcommon.SpanID(e.Parent).IsEmpty() {
			return
		}
		k = k.withSpan(e.Parent)
		next, ok := p.producers.Get(k)
		if !ok {
			r.waitKeys = []joinKey{k}
			return
		}
		if next.Kind != kindProducer {
			return
		}
		e = next
	}
}

// lagHeld is a projection span waiting for its producer: its pdata (sharing
// the Resource and Scope of its incoming ScopeSpans, re-emitted unchanged)
// and the lag its own attributes gave.
type lagHeld struct {
	hold.Span
	st lagState
}

type lagWaiter = hold.Waiter[joinKey, lagHeld]

// heldSpans is the hold: a hold.Waits keyed by the spans whose arrival could
// take a held span's join further. Every span waits the same time, so arrival
// order is deadline order.
type heldSpans struct {
	*hold.Waits[joinKey, lagHeld]
}

func (h heldSpans) len() int { return h.Len() }

// hold moves span out of its batch and waits for the keys in r. Spans held
// from one ScopeSpans share one copy of its Resource and Scope.
func (p *lagProcessor) hold(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, st lagState, r resolution, now time.Time, c *counts, rel *hold.Out) {
	if p.held.Len() >= p.cfg.Link.MaxHeld {
		w := p.held.Oldest()
		p.held.Remove(w, hold.Overflow)
		p.releaseHeld(w, c, rel)
	}
	if p.origin == nil {
		p.origin = hold.NewOrigin(rs, ss)
	}
	p.held.Add(lagHeld{Span: hold.Take(span, p.origin), st: st}, now.Add(p.cfg.Link.Wait).UnixNano(), r.waitKeys...)
	p.heldN++
}

// retry re-runs the join for a woken held span. It returns true when the
// span is finished and can be released.
func (p *lagProcessor) retry(w *lagWaiter, c *counts) bool {
	h := &w.Value
	r := p.resolve(h.Span.Span)
	if p.mustHold(h.st, r) {
		p.held.Rewait(w, r.waitKeys...)
		return false
	}
	p.finish(h.Origin.Resource(), h.Span.Span, h.st, r, c)
	return true
}

// releaseHeld finishes a held span the caller removed from the hold with
// whatever the producer table knows now.
func (p *lagProcessor) releaseHeld(w *lagWaiter, c *counts, rel *hold.Out) {
	h := &w.Value
	p.finish(h.Origin.Resource(), h.Span.Span, h.st, p.resolve(h.Span.Span), c)
	rel.Add(&h.Span)
}
