package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

// origin is the Resource and Scope a held span came with; copied once per
// incoming ScopeSpans, shared by all spans held from it.
type origin struct {
	shell ptrace.ResourceSpans // one ScopeSpans, no spans
}

func newOrigin(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) *origin {
	shell := ptrace.NewResourceSpans()
	rs.Resource().CopyTo(shell.Resource())
	shell.SetSchemaUrl(rs.SchemaUrl())
	s := shell.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(s.Scope())
	s.SetSchemaUrl(ss.SchemaUrl())
	return &origin{shell: shell}
}

type heldSpan struct {
	span     ptrace.Span // standalone; moved out of the batch
	origin   *origin
	id       pcommon.SpanID
	parent   pcommon.SpanID
	proc     uint32 // processKey of the span's resource
	fallback matcher.Side
	deadline int64 // unix nanos
	released bool
}

// heldBuffer is the bounded wait buffer. queue is in arrival order, which
// is also deadline order (one wait for all), so the head is always the
// next to time out and the first to release early.
type heldBuffer struct {
	queue    []*heldSpan
	head     int
	live     int
	byParent map[pcommon.SpanID][]*heldSpan
}

func (b *heldBuffer) add(h *heldSpan) {
	b.queue = append(b.queue, h)
	b.live++
	b.byParent[h.parent] = append(b.byParent[h.parent], h)
}

// oldest returns the oldest span still held, skipping released ones.
func (b *heldBuffer) oldest() *heldSpan {
	for b.head < len(b.queue) {
		if h := b.queue[b.head]; !h.released {
			return h
		}
		b.queue[b.head] = nil
		b.head++
	}
	return nil
}

// take removes h from the buffer's indexes; the caller releases it.
func (b *heldBuffer) take(h *heldSpan) {
	h.released = true
	b.live--
	kids := b.byParent[h.parent]
	for i, k := range kids {
		if k == h {
			kids[i] = kids[len(kids)-1]
			kids[len(kids)-1] = nil
			kids = kids[:len(kids)-1]
			break
		}
	}
	if len(kids) == 0 {
		delete(b.byParent, h.parent)
	} else {
		b.byParent[h.parent] = kids
	}
	b.compact()
}

// takeChildren removes and returns the spans waiting for parent.
func (b *heldBuffer) takeChildren(parent pcommon.SpanID) []*heldSpan {
	kids, ok := b.byParent[parent]
	if !ok {
		return nil
	}
	delete(b.byParent, parent)
	for _, h := range kids {
		h.released = true
		b.live--
	}
	b.compact()
	return kids
}

// compact bounds the queue by the live count: released entries are
// dropped once they outnumber live ones.
func (b *heldBuffer) compact() {
	if n := len(b.queue) - b.head; n > 64 && n > 2*b.live {
		j := 0
		for _, h := range b.queue[b.head:] {
			if h != nil && !h.released {
				b.queue[j] = h
				j++
			}
		}
		clear(b.queue[j:])
		b.queue = b.queue[:j]
		b.head = 0
	}
}

// releaser gathers released spans into one Traces, one ResourceSpans per
// origin, so a burst of releases costs one resource copy per origin.
type releaser struct {
	out    ptrace.Traces
	groups map[*origin]ptrace.SpanSlice
}

func (r *releaser) add(h *heldSpan) {
	if r.groups == nil {
		r.out = ptrace.NewTraces()
		r.groups = map[*origin]ptrace.SpanSlice{}
	}
	spans, ok := r.groups[h.origin]
	if !ok {
		rs := r.out.ResourceSpans().AppendEmpty()
		h.origin.shell.CopyTo(rs)
		spans = rs.ScopeSpans().At(0).Spans()
		r.groups[h.origin] = spans
	}
	h.span.MoveTo(spans.AppendEmpty())
	h.span = ptrace.Span{}
	h.origin = nil
}

func (r *releaser) empty() bool { return r.groups == nil }
