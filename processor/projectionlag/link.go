package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/store"
)

// resolution is how far the join got for one projection apply span.
type resolution struct {
	producer      store.Entry
	producerFound bool
	// sameTrace: the producer is in the projection span's trace.
	sameTrace    bool
	command      store.Entry
	commandFound bool
	// candidates counts the links and parent the span could be joined through.
	candidates int
	// waitKeys are the spans whose arrival could take the join further.
	waitKeys []store.Key
}

type walkStatus uint8

const (
	walkDead walkStatus = iota
	walkMissing
	walkFound
)

// resolve joins a projection apply span to its producer: through its links
// first (seed 000), then through its parent chain (seed 001: apply ← handle
// ← dispatch ← consume ← remote publish), and from the producer up to its
// command span.
func (p *lagProcessor) resolve(span ptrace.Span) resolution {
	var r resolution
	if p.producers == nil {
		return r
	}
	tid := span.TraceID()
	var missing []store.Key
	try := func(k store.Key) bool {
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
		if try(store.NewKey(l.TraceID(), l.SpanID())) {
			return r
		}
	}
	if parent := span.ParentSpanID(); !parent.IsEmpty() && !tid.IsEmpty() {
		if try(store.NewKey(tid, parent)) {
			return r
		}
	}
	// Last, the event's own id: eventsource-py's RabbitMQ handle and Redis process spans are roots
	// of new traces, so only the event id ties their applies to the publish or outbox span of the
	// event. Looked up, never waited for: not every bus's producer names the event.
	if k, ok := p.eventKey(span.Attributes()); ok {
		if e, found := p.producers.Get(k); found && e.Kind == store.Producer {
			r.producer, r.producerFound = e, true
			return r
		}
	}
	r.waitKeys = missing
	return r
}

// eventKey keys a write span by the id of the event it carries (eventsource.event.id): two
// independent 64-bit hashes of the id, and a span part no span id is likely to have.
func (p *lagProcessor) eventKey(attrs pcommon.Map) (store.Key, bool) {
	v, ok := attrs.Get(semconv.AttrESEventID)
	if !ok || v.Type() != pcommon.ValueTypeStr || v.Str() == "" {
		return store.Key{}, false
	}
	var k store.Key
	binary.LittleEndian.PutUint64(k[0:8], maphash.String(p.eventSeeds[0], v.Str()))
	binary.LittleEndian.PutUint64(k[8:16], maphash.String(p.eventSeeds[1], v.Str()))
	copy(k[16:], eventKeyMarker[:])
	return k, true
}

var eventKeyMarker = [8]byte{0xe7, 'e', 'v', 'e', 'n', 't', 0xe7, 0}

// walk follows relays from k to the first producer.
func (p *lagProcessor) walk(k store.Key) (store.Entry, store.Key, walkStatus) {
	for range p.cfg.Link.MaxDepth {
		e, ok := p.producers.Get(k)
		if !ok {
			return e, k, walkMissing
		}
		switch e.Kind {
		case store.Producer:
			return e, k, walkFound
		case store.Relay:
			if pcommon.SpanID(e.Parent).IsEmpty() {
				return e, k, walkDead
			}
			k = k.WithSpan(e.Parent)
		default:
			return e, k, walkDead
		}
	}
	return store.Entry{}, k, walkDead
}

// walkToCommand climbs from a producer (an append, a save, a publish) to the
// command span above it; when an ancestor is not stored yet it records the
// key to wait for.
func (p *lagProcessor) walkToCommand(r *resolution, k store.Key, e store.Entry) {
	for range p.cfg.Link.MaxDepth {
		if e.Command != 0 {
			r.command, r.commandFound = e, true
			return
		}
		if pcommon.SpanID(e.Parent).IsEmpty() {
			return
		}
		k = k.WithSpan(e.Parent)
		next, ok := p.producers.Get(k)
		if !ok {
			r.waitKeys = []store.Key{k}
			return
		}
		if next.Kind != store.Producer {
			return
		}
		e = next
	}
}

// heldSpan is a projection span waiting for its producer, kept with its own
// copy of its Resource and Scope so it is re-emitted unchanged.
type heldSpan struct {
	id       uint64
	td       ptrace.Traces
	span     ptrace.Span
	res      pcommon.Resource
	st       lagState
	deadline int64
	waitKeys []store.Key

	prev, next *heldSpan
}

// heldQueue keeps held spans in arrival order, which is also deadline order
// because every span waits the same time.
type heldQueue struct {
	byID       map[uint64]*heldSpan
	head, tail *heldSpan
	nextID     uint64
}

func newHeldQueue() heldQueue { return heldQueue{byID: make(map[uint64]*heldSpan)} }

func (q *heldQueue) push(h *heldSpan) {
	q.nextID++
	h.id = q.nextID
	q.byID[h.id] = h
	h.prev = q.tail
	if q.tail != nil {
		q.tail.next = h
	} else {
		q.head = h
	}
	q.tail = h
}

func (q *heldQueue) remove(h *heldSpan) {
	if _, ok := q.byID[h.id]; !ok {
		return
	}
	delete(q.byID, h.id)
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		q.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		q.tail = h.prev
	}
	h.prev, h.next = nil, nil
}

func (q *heldQueue) get(id uint64) (*heldSpan, bool) {
	h, ok := q.byID[id]
	return h, ok
}

func (q *heldQueue) oldest() *heldSpan { return q.head }

func (q *heldQueue) len() int { return len(q.byID) }

// hold moves span out of its batch into its own Traces and waits for the
// keys in r.
func (p *lagProcessor) hold(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, st lagState, r resolution, now time.Time, c *counts, released *ptrace.Traces) {
	if p.held.len() >= p.cfg.Link.MaxHeld {
		c.heldOverflow++
		p.releaseHeld(p.held.oldest(), c, released)
	}
	td := ptrace.NewTraces()
	nrs := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(nrs.Resource())
	nrs.SetSchemaUrl(rs.SchemaUrl())
	nss := nrs.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(nss.Scope())
	nss.SetSchemaUrl(ss.SchemaUrl())
	ns := nss.Spans().AppendEmpty()
	span.MoveTo(ns)
	h := &heldSpan{td: td, span: ns, res: nrs.Resource(), st: st, deadline: now.Add(p.cfg.Link.Wait).UnixNano()}
	p.held.push(h)
	p.register(h, r.waitKeys)
}

// retry re-runs the join for a woken held span. It returns true when the
// span is finished and can be released.
func (p *lagProcessor) retry(h *heldSpan, c *counts) bool {
	r := p.resolve(h.span)
	p.unregister(h)
	if p.mustHold(h.st, r) {
		p.register(h, r.waitKeys)
		return false
	}
	p.finish(h.res, h.span, h.st, r, c)
	return true
}

// releaseHeld finishes a held span with whatever the store knows now.
func (p *lagProcessor) releaseHeld(h *heldSpan, c *counts, out *ptrace.Traces) {
	p.held.remove(h)
	p.unregister(h)
	p.finish(h.res, h.span, h.st, p.resolve(h.span), c)
	appendReleased(out, h)
}

func (p *lagProcessor) register(h *heldSpan, keys []store.Key) {
	h.waitKeys = keys
	for _, k := range keys {
		p.waiting[k] = append(p.waiting[k], h.id)
	}
}

func (p *lagProcessor) unregister(h *heldSpan) {
	for _, k := range h.waitKeys {
		ids := p.waiting[k]
		n := 0
		for _, id := range ids {
			if id != h.id {
				ids[n] = id
				n++
			}
		}
		if n == 0 {
			delete(p.waiting, k)
		} else {
			p.waiting[k] = ids[:n]
		}
	}
	h.waitKeys = nil
}
