// Package spantest builds ptrace.Traces for tests: one small fluent builder
// of resources, scopes and spans that the components' test helpers wrap with
// their own domain shapes ("a command span", "an apply span").
//
// It is test support: no component imports it outside its tests
// (internal/archtest checks).
package spantest // import "github.com/otelcol-es/otelcol-es/internal/spantest"

import (
	"encoding/binary"
	"encoding/hex"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Builder appends resources, scopes and spans to one ptrace.Traces. Spans
// go to the current scope of the current resource.
type Builder struct {
	td ptrace.Traces
	rs ptrace.ResourceSpans
	ss ptrace.ScopeSpans
	// hasRS, hasSS: a current resource / scope exists.
	hasRS, hasSS bool
}

// New starts an empty ptrace.Traces.
func New() *Builder { return Append(ptrace.NewTraces()) }

// Append builds onto td: the next Resource (or Span) appends to it.
func Append(td ptrace.Traces) *Builder { return &Builder{td: td} }

// Traces is the ptrace.Traces built so far (the builder keeps appending to it).
func (b *Builder) Traces() ptrace.Traces { return b.td }

// Resource appends a ResourceSpans with attrs (nil for none) and makes it
// current; it has no scope yet.
func (b *Builder) Resource(attrs map[string]any) *Builder {
	b.rs = b.td.ResourceSpans().AppendEmpty()
	b.hasRS, b.hasSS = true, false
	if len(attrs) > 0 {
		mustFromRaw(b.rs.Resource().Attributes(), attrs)
	}
	return b
}

// Service appends a ResourceSpans whose only attribute is service.name
// (none when service is "") and makes it current.
func (b *Builder) Service(service string) *Builder {
	b.Resource(nil)
	if service != "" {
		b.rs.Resource().Attributes().PutStr(semconv.AttrServiceName, service)
	}
	return b
}

// Scope makes current the current resource's ScopeSpans whose scope is
// named name, appending it on first use: spans of one scope stay together
// in order of first appearance, whatever order they are added in.
func (b *Builder) Scope(name string) *Builder {
	if !b.hasRS {
		b.Resource(nil)
	}
	sss := b.rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		if sss.At(i).Scope().Name() == name {
			b.ss, b.hasSS = sss.At(i), true
			return b
		}
	}
	b.ss, b.hasSS = sss.AppendEmpty(), true
	b.ss.Scope().SetName(name)
	return b
}

// ResourceSpans is the current ResourceSpans (a zero value before the first).
func (b *Builder) ResourceSpans() ptrace.ResourceSpans { return b.rs }

// ScopeSpans is the current ScopeSpans (a zero value before the first).
func (b *Builder) ScopeSpans() ptrace.ScopeSpans { return b.ss }

// Span appends a span named name to the current scope (a resource and an
// unnamed scope are started when there is none yet). Everything else is
// unset: kind unspecified, empty ids, zero times, no attributes.
func (b *Builder) Span(name string) Span {
	if !b.hasSS {
		b.Scope("")
	}
	s := b.ss.Spans().AppendEmpty()
	s.SetName(name)
	return Span{s: s}
}

// Span sets the fields of one span; each setter returns the span again.
type Span struct{ s ptrace.Span }

// PData is the span itself.
func (s Span) PData() ptrace.Span { return s.s }

// Trace sets the trace id.
func (s Span) Trace(id pcommon.TraceID) Span { s.s.SetTraceID(id); return s }

// ID sets the span id.
func (s Span) ID(id pcommon.SpanID) Span { s.s.SetSpanID(id); return s }

// Parent sets the parent span id (empty for a root).
func (s Span) Parent(id pcommon.SpanID) Span { s.s.SetParentSpanID(id); return s }

// Kind sets the span kind.
func (s Span) Kind(k ptrace.SpanKind) Span { s.s.SetKind(k); return s }

// Flags sets the OTLP span flags (0x300: the parent is remote).
func (s Span) Flags(f uint32) Span { s.s.SetFlags(f); return s }

// Times sets the start and end timestamps.
func (s Span) Times(start, end pcommon.Timestamp) Span {
	s.s.SetStartTimestamp(start)
	s.s.SetEndTimestamp(end)
	return s
}

// At sets the start and end times.
func (s Span) At(start, end time.Time) Span {
	return s.Times(pcommon.NewTimestampFromTime(start), pcommon.NewTimestampFromTime(end))
}

// Attrs replaces the span's attributes with attrs (pcommon.Map.FromRaw); it
// panics on a value FromRaw refuses.
func (s Span) Attrs(attrs map[string]any) Span {
	mustFromRaw(s.s.Attributes(), attrs)
	return s
}

// Link appends a link to the span (trace, id), with no attributes.
func (s Span) Link(trace pcommon.TraceID, id pcommon.SpanID) Span {
	l := s.s.Links().AppendEmpty()
	l.SetTraceID(trace)
	l.SetSpanID(id)
	return s
}

// Event appends an event named name at ts with attrs (nil for none).
func (s Span) Event(name string, ts pcommon.Timestamp, attrs map[string]any) Span {
	ev := s.s.Events().AppendEmpty()
	ev.SetName(name)
	ev.SetTimestamp(ts)
	if len(attrs) > 0 {
		mustFromRaw(ev.Attributes(), attrs)
	}
	return s
}

// NamedSpanID turns a short name into a span id: 16 hex digits are the id
// itself, any other name a deterministic FNV-1a hash of it, "" the empty id.
// Tests name spans ("cmd1", "http1") and get stable ids.
func NamedSpanID(name string) pcommon.SpanID {
	var id pcommon.SpanID
	if name == "" {
		return id
	}
	if b, err := hex.DecodeString(name); err == nil && len(b) == 8 {
		copy(id[:], b)
		return id
	}
	h := uint64(1469598103934665603)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	binary.BigEndian.PutUint64(id[:], h)
	return id
}

func mustFromRaw(m pcommon.Map, raw map[string]any) {
	if err := m.FromRaw(raw); err != nil {
		panic(err)
	}
}
