package projectionlag

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spantest"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadatatest"
)

// t0 is the base time of every test trace.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func tid(n byte) pcommon.TraceID {
	return pcommon.TraceID{0xa, n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, n}
}

func sid(n byte) pcommon.SpanID { return pcommon.SpanID{0xb, n, 1, 2, 3, 4, 5, n} }

type harness struct {
	t     testing.TB
	clock *clockwork.FakeClock
	tel   *componenttest.Telemetry
	proc  processor.Traces
	lp    *lagProcessor
	sink  *consumertest.TracesSink
}

// newHarness builds the processor through processorhelper, with a fake
// clock. The join's expiry goroutine is not started: advance runs what its
// tick would, so nothing depends on scheduling.
func newHarness(t testing.TB, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Link.MaxProducers = 20_000 // a test keeps few spans; the default's 50 MB would only slow every test
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	set := metadatatest.NewSettings(tel)
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	lp, err := newProcessor(set, cfg, clock)
	require.NoError(t, err)
	proc, err := processorhelper.NewTraces(context.Background(), set, cfg, sink, lp.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(lp.shutdown))
	require.NoError(t, err)
	h := &harness{t: t, clock: clock, tel: tel, proc: proc, lp: lp, sink: sink}
	t.Cleanup(func() {
		require.NoError(t, proc.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return h
}

func (h *harness) consume(td ptrace.Traces) {
	h.t.Helper()
	require.NoError(h.t, h.proc.ConsumeTraces(context.Background(), td))
}

// advance moves the fake clock and runs what the join's expiry tick runs.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.lp.join.Begin().End(context.Background())
}

// sizes returns how many facts and pending joins the join engine holds.
func (h *harness) sizes() (facts, pending int) { return h.lp.join.Sizes() }

// applied returns the cqrs.projection.applied events written on the span named name.
func (h *harness) applied(name string) []pcommon.Map {
	h.t.Helper()
	var out []pcommon.Map
	for _, s := range h.spans()[name] {
		for _, ev := range s.Events().All() {
			if ev.Name() == semconv.EventProjectionApplied {
				out = append(out, ev.Attributes())
			}
		}
	}
	return out
}

// spans returns every span the sink received, by name.
func (h *harness) spans() map[string][]ptrace.Span {
	out := map[string][]ptrace.Span{}
	for _, td := range h.sink.AllTraces() {
		forEachSpan(td, func(_ ptrace.ResourceSpans, s ptrace.Span) { out[s.Name()] = append(out[s.Name()], s) })
	}
	return out
}

func (h *harness) one(name string) ptrace.Span {
	h.t.Helper()
	s := h.spans()[name]
	require.Len(h.t, s, 1, "span %q", name)
	return s[0]
}

// counter returns the sum of an otelcol_processor_projectionlag_* counter (0 if never recorded).
func (h *harness) counter(name string) int64 {
	m, err := h.tel.GetMetric("otelcol_processor_projectionlag_" + name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

func forEachSpan(td ptrace.Traces, f func(ptrace.ResourceSpans, ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(rs, spans.At(k))
			}
		}
	}
}

// batch builds traces for one service, one scope ("test").
type batch struct {
	td ptrace.Traces
	b  *spantest.Builder
}

func newBatch(service string) *batch {
	b := spantest.New().Service(service).Scope("test")
	return &batch{td: b.Traces(), b: b}
}

func (b *batch) span(name string, trace pcommon.TraceID, id, parent pcommon.SpanID, start, end time.Time, attrs map[string]any) ptrace.Span {
	return b.b.Span(name).Trace(trace).ID(id).Parent(parent).At(start, end).Attrs(attrs).PData()
}

// command / append / apply builders with the attributes cqrsside would have set.
func (b *batch) command(trace pcommon.TraceID, id pcommon.SpanID, typ string, start, end time.Time) ptrace.Span {
	return b.span(semconv.SpanPrefixCommand+typ, trace, id, pcommon.SpanID{}, start, end,
		map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: typ})
}

func (b *batch) write(name string, trace pcommon.TraceID, id, parent pcommon.SpanID, start, end time.Time, attrs map[string]any) ptrace.Span {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs[semconv.AttrSide] = semconv.SideWrite
	return b.span(name, trace, id, parent, start, end, attrs)
}

func (b *batch) apply(trace pcommon.TraceID, id, parent pcommon.SpanID, projection string, start, end time.Time, attrs map[string]any) ptrace.Span {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs[semconv.AttrSide] = semconv.SideProjection
	attrs[semconv.AttrProjectionName] = projection
	return b.span(semconv.SpanPrefixProjection+projection, trace, id, parent, start, end, attrs)
}

func link(s ptrace.Span, trace pcommon.TraceID, id pcommon.SpanID) {
	l := s.Links().AppendEmpty()
	l.SetTraceID(trace)
	l.SetSpanID(id)
}

func attr(t testing.TB, s ptrace.Span, key string) pcommon.Value {
	t.Helper()
	v, ok := s.Attributes().Get(key)
	require.True(t, ok, "span %q has no %q; attributes: %v", s.Name(), key, s.Attributes().AsRaw())
	return v
}

func noAttr(t testing.TB, s ptrace.Span, key string) {
	t.Helper()
	_, ok := s.Attributes().Get(key)
	require.False(t, ok, "span %q must not have %q", s.Name(), key)
}
