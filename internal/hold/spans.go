package hold

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Origin is the Resource and Scope held spans came with: copied once per
// incoming ScopeSpans and shared by every span held from it, so holding a
// span costs no resource copy.
type Origin struct {
	shell ptrace.ResourceSpans // one ScopeSpans, no spans
}

// NewOrigin copies the Resource of rs and the Scope of ss (with their schema
// URLs).
func NewOrigin(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) *Origin {
	shell := ptrace.NewResourceSpans()
	rs.Resource().CopyTo(shell.Resource())
	shell.SetSchemaUrl(rs.SchemaUrl())
	s := shell.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(s.Scope())
	s.SetSchemaUrl(ss.SchemaUrl())
	return &Origin{shell: shell}
}

// Resource is the origin's resource (read it; do not change it: it is shared).
func (o *Origin) Resource() pcommon.Resource { return o.shell.Resource() }

// Span is the pdata of one held span.
type Span struct {
	Span   ptrace.Span // standalone, moved out of its batch
	Origin *Origin
}

// Take moves span out of its batch (it is left empty there; the caller
// removes it) into a held Span from origin o.
func Take(span ptrace.Span, o *Origin) Span {
	s := ptrace.NewSpan()
	span.MoveTo(s)
	return Span{Span: s, Origin: o}
}

// Out gathers released spans into one Traces, one ResourceSpans per origin
// in the order origins are first seen. The zero value is ready to use.
type Out struct {
	td     ptrace.Traces
	groups map[*Origin]ptrace.SpanSlice
}

// Add moves s into the output; s is empty afterwards.
func (r *Out) Add(s *Span) {
	if r.groups == nil {
		r.td = ptrace.NewTraces()
		r.groups = map[*Origin]ptrace.SpanSlice{}
	}
	spans, ok := r.groups[s.Origin]
	if !ok {
		rs := r.td.ResourceSpans().AppendEmpty()
		s.Origin.shell.CopyTo(rs)
		spans = rs.ScopeSpans().At(0).Spans()
		r.groups[s.Origin] = spans
	}
	s.Span.MoveTo(spans.AppendEmpty())
	*s = Span{}
}

// Empty reports whether nothing was added.
func (r *Out) Empty() bool { return r.groups == nil }

// Traces returns what was added (an empty Traces when nothing was).
func (r *Out) Traces() ptrace.Traces {
	if r.groups == nil {
		return ptrace.NewTraces()
	}
	return r.td
}
