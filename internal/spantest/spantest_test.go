package spantest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestBuilder(t *testing.T) {
	trace := pcommon.TraceID{1}
	t0 := time.Unix(1_763_778_000, 0)
	b := New().Service("svc")
	a := b.Scope("a").Span("first").Trace(trace).ID(NamedSpanID("x")).Kind(ptrace.SpanKindServer).
		At(t0, t0.Add(time.Millisecond)).Attrs(map[string]any{"k": "v", "n": 1}).
		Link(trace, NamedSpanID("y")).Event("e", 5, map[string]any{"et": "Placed"}).Flags(0x300)
	b.Scope("b").Span("second").Parent(NamedSpanID("x"))
	b.Scope("a").Span("third")
	b.Resource(map[string]any{"host": "h"}).Span("fourth")

	td := b.Traces()
	assert.Equal(t, 4, td.SpanCount())
	assert.Equal(t, 2, td.ResourceSpans().Len())
	rs := td.ResourceSpans().At(0)
	v, _ := rs.Resource().Attributes().Get(semconv.AttrServiceName)
	assert.Equal(t, "svc", v.Str())
	assert.Equal(t, 2, rs.ScopeSpans().Len(), "one ScopeSpans per scope name")
	assert.Equal(t, 2, rs.ScopeSpans().At(0).Spans().Len())
	assert.Equal(t, "third", rs.ScopeSpans().At(0).Spans().At(1).Name())

	s := a.PData()
	assert.Equal(t, trace, s.TraceID())
	assert.Equal(t, NamedSpanID("x"), s.SpanID())
	assert.Equal(t, ptrace.SpanKindServer, s.Kind())
	assert.Equal(t, uint32(0x300), s.Flags())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0), s.StartTimestamp())
	assert.Equal(t, map[string]any{"k": "v", "n": int64(1)}, s.Attributes().AsRaw())
	assert.Equal(t, NamedSpanID("y"), s.Links().At(0).SpanID())
	assert.Equal(t, "e", s.Events().At(0).Name())
	assert.Equal(t, NamedSpanID("x"), rs.ScopeSpans().At(1).Spans().At(0).ParentSpanID())

	rs2 := td.ResourceSpans().At(1)
	assert.Equal(t, map[string]any{"host": "h"}, rs2.Resource().Attributes().AsRaw())
	assert.Empty(t, rs2.ScopeSpans().At(0).Scope().Name(), "a span with no scope goes to an unnamed one")
}

func TestNamedSpanID(t *testing.T) {
	assert.True(t, NamedSpanID("").IsEmpty())
	assert.Equal(t, pcommon.SpanID{0, 1, 2, 3, 4, 5, 6, 7}, NamedSpanID("0001020304050607"))
	assert.Equal(t, NamedSpanID("cmd1"), NamedSpanID("cmd1"))
	assert.NotEqual(t, NamedSpanID("cmd1"), NamedSpanID("cmd2"))
}
