package cqrsside

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadatatest"
)

// harness drives a processor directly, with a fake clock, so tests decide
// exactly when time passes.
type harness struct {
	t     *testing.T
	p     *cqrsProcessor
	sink  *consumertest.TracesSink
	clock *clockwork.FakeClock
	tel   *componenttest.Telemetry
}

var testStart = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(testStart)
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg, clock)
	require.NoError(t, err)
	return &harness{t: t, p: p, sink: sink, clock: clock, tel: tel}
}

// consume runs one batch through the processor, as processorhelper would.
func (h *harness) consume(td ptrace.Traces) {
	h.t.Helper()
	out, err := h.p.processTraces(context.Background(), td)
	require.NoError(h.t, err)
	require.NoError(h.t, h.sink.ConsumeTraces(context.Background(), out))
}

// all returns every span sent on so far, in one Traces.
func (h *harness) all() ptrace.Traces {
	out := ptrace.NewTraces()
	for _, td := range h.sink.AllTraces() {
		for j := 0; j < td.ResourceSpans().Len(); j++ {
			td.ResourceSpans().At(j).CopyTo(out.ResourceSpans().AppendEmpty())
		}
	}
	return out
}

// spans indexes the spans sent on so far by their test id.
func (h *harness) spans() map[pcommon.SpanID]ptrace.Span {
	m := map[pcommon.SpanID]ptrace.Span{}
	for _, td := range h.sink.AllTraces() {
		forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) { m[s.SpanID()] = s })
	}
	return m
}

func forEachSpan(td ptrace.Traces, f func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				f(rs, ss, ss.Spans().At(k))
			}
		}
	}
}

// side returns the cqrs.side and cqrs.side.source of the span with test id
// id; "-" when the span has not been sent on.
func (h *harness) side(id string) (string, string) {
	s, ok := h.spans()[spanID(id)]
	if !ok {
		return "-", "-"
	}
	return strOf(s.Attributes(), semconv.AttrSide), strOf(s.Attributes(), semconv.AttrSideSource)
}

func strOf(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}
