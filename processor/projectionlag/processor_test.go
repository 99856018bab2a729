package projectionlag

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spantest"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
)

func TestReportedLag_KeptAndValidated(t *testing.T) {
	h := newHarness(t, nil)
	b := newBatch("orders")
	b.apply(tid(1), sid(1), sid(9), "good", ms(0), ms(5), map[string]any{semconv.AttrProjectionLagMs: 12.5})
	b.apply(tid(2), sid(2), sid(9), "int", ms(0), ms(5), map[string]any{semconv.AttrProjectionLagMs: 40})
	b.apply(tid(3), sid(3), pcommon.SpanID{}, "bad", ms(0), ms(5), map[string]any{semconv.AttrProjectionLagMs: "soon"})
	b.apply(tid(4), sid(4), pcommon.SpanID{}, "badfallback", ms(0), ms(5), map[string]any{
		semconv.AttrProjectionLagMs:  1e15, // implies an event before 2000
		semconv.AttrESEventTimestamp: ms(-250).UnixMilli(),
	})
	h.consume(b.td)

	s := h.one("projection.good")
	assert.Equal(t, 12.5, attr(t, s, semconv.AttrProjectionLagMs).Double())
	assert.Equal(t, semconv.LagSourceReported, attr(t, s, semconv.AttrProjectionLagSource).Str())
	assert.Equal(t, semconv.PhaseLive, attr(t, s, semconv.AttrProjectionPhase).Str())

	s = h.one("projection.int")
	assert.Equal(t, pcommon.ValueTypeDouble, attr(t, s, semconv.AttrProjectionLagMs).Type(), "always written as a double")
	assert.Equal(t, 40.0, attr(t, s, semconv.AttrProjectionLagMs).Double())

	s = h.one("projection.bad")
	noAttr(t, s, semconv.AttrProjectionLagMs)
	noAttr(t, s, semconv.AttrProjectionLagSource)

	s = h.one("projection.badfallback")
	assert.Equal(t, 250.0, attr(t, s, semconv.AttrProjectionLagMs).Double())
	assert.Equal(t, semconv.LagSourceEventTimestamp, attr(t, s, semconv.AttrProjectionLagSource).Str())
	assert.Equal(t, int64(2), h.counter("invalid_reported_lag"))
}

func TestEventTimestampSource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.Enabled = false })
	b := newBatch("orders")
	b.apply(tid(1), sid(1), pcommon.SpanID{}, "ms", ms(1000), ms(1010), map[string]any{semconv.AttrESEventTimestamp: ms(0).UnixMilli()})
	b.apply(tid(2), sid(2), pcommon.SpanID{}, "s", ms(3000), ms(3010), map[string]any{semconv.AttrEventTimestamp: float64(ms(500).UnixNano()) / 1e9})
	b.apply(tid(3), sid(3), pcommon.SpanID{}, "rfc", ms(100), ms(110), map[string]any{semconv.AttrEventTimestamp: ms(40).Format(time.RFC3339Nano)})
	b.apply(tid(4), sid(4), pcommon.SpanID{}, "ns", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: ms(99).UnixNano()})
	b.apply(tid(5), sid(5), pcommon.SpanID{}, "future", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: ms(3_600_000).UnixMilli()})
	b.apply(tid(6), sid(6), pcommon.SpanID{}, "ancient", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: 86400})
	b.apply(tid(7), sid(7), pcommon.SpanID{}, "wrongtype", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: true})
	h.consume(b.td)

	for name, want := range map[string]float64{"ms": 1000, "s": 2500, "rfc": 60, "ns": 1} {
		s := h.one("projection." + name)
		assert.InDelta(t, want, attr(t, s, semconv.AttrProjectionLagMs).Double(), 1e-3, name)
		assert.Equal(t, semconv.LagSourceEventTimestamp, attr(t, s, semconv.AttrProjectionLagSource).Str(), name)
	}
	for _, name := range []string{"future", "ancient", "wrongtype"} {
		s := h.one("projection." + name)
		noAttr(t, s, semconv.AttrProjectionLagMs)
		assert.Equal(t, semconv.PhaseLive, attr(t, s, semconv.AttrProjectionPhase).Str(), "phase is always set")
	}
	assert.Equal(t, int64(3), h.counter("invalid_timestamps"))
}

func TestNegativeLagPolicies(t *testing.T) {
	for _, policy := range []string{negativeLagClamp, negativeLagFlag, negativeLagDropValue} {
		t.Run(policy, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.NegativeLag = policy; c.Link.Enabled = false })
			b := newBatch("orders")
			// The event is 30 ms "after" the apply started: clock skew within tolerance.
			b.apply(tid(1), sid(1), pcommon.SpanID{}, "skew", ms(0), ms(5), map[string]any{semconv.AttrESEventTimestamp: ms(30).UnixMilli()})
			b.apply(tid(2), sid(2), pcommon.SpanID{}, "reported", ms(0), ms(5), map[string]any{semconv.AttrProjectionLagMs: -3.0})
			h.consume(b.td)
			assert.Equal(t, int64(2), h.counter("negative_lag"))
			for _, name := range []string{"projection.skew", "projection.reported"} {
				s := h.one(name)
				switch policy {
				case negativeLagClamp:
					assert.Equal(t, 0.0, attr(t, s, semconv.AttrProjectionLagMs).Double())
					noAttr(t, s, semconv.AttrProjectionClockSkew)
				case negativeLagFlag:
					assert.Less(t, attr(t, s, semconv.AttrProjectionLagMs).Double(), 0.0)
					assert.True(t, attr(t, s, semconv.AttrProjectionClockSkew).Bool())
				case negativeLagDropValue:
					noAttr(t, s, semconv.AttrProjectionLagMs)
					noAttr(t, s, semconv.AttrProjectionLagSource)
				}
			}
		})
	}
}

func TestNonProjectionSpansUntouched(t *testing.T) {
	h := newHarness(t, nil)
	b := newBatch("orders")
	// Right name, wrong side: cqrsside decided it is not a projection.
	b.span("projection.lookalike", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(1), map[string]any{semconv.AttrSide: semconv.SideRead})
	b.span("GET /orders", tid(1), sid(2), pcommon.SpanID{}, ms(0), ms(1), nil)
	want := ptrace.NewTraces()
	b.td.CopyTo(want)
	h.consume(b.td)
	require.Len(t, h.sink.AllTraces(), 1)
	assert.Equal(t, want, h.sink.AllTraces()[0])
}

func TestPositionsBehind(t *testing.T) {
	h := newHarness(t, nil)
	b := newBatch("orders")
	b.span("sqlite_event_store.append_events", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESPosition: 120, semconv.AttrDBName: "es"})
	b.span(semconv.SpanCheckpointUpdate, tid(2), sid(2), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrSide: semconv.SideProjection, semconv.AttrESPosition: 100, semconv.AttrESProjectionName: "orders_view", semconv.AttrDBName: "es"})
	// Another store of the same service has its own head.
	b.span(semconv.SpanCheckpointUpdate, tid(3), sid(3), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrESPosition: 3, semconv.AttrProjectionName: "other", semconv.AttrDBName: "other"})
	b.span(semconv.SpanCheckpointUpdate, tid(4), sid(4), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrESPosition: "abc", semconv.AttrProjectionName: "broken", semconv.AttrDBName: "es"})
	b.span(semconv.SpanCheckpointUpdate, tid(5), sid(5), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrESPosition: 5, semconv.AttrDBName: "es"})
	h.consume(b.td)

	spans := h.spans()[semconv.SpanCheckpointUpdate]
	require.Len(t, spans, 4)
	assert.Equal(t, int64(20), attr(t, spans[0], semconv.AttrProjectionPositionsBehind).Int())
	assert.Equal(t, semconv.PhaseLive, attr(t, spans[0], semconv.AttrProjectionPhase).Str())
	noAttr(t, spans[1], semconv.AttrProjectionPositionsBehind)
	noAttr(t, spans[2], semconv.AttrProjectionPositionsBehind)
	noAttr(t, spans[3], semconv.AttrProjectionPositionsBehind)
	assert.Equal(t, int64(2), h.counter("invalid_positions"))
}

func TestPhase(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.Enabled = false })
	cp := func(b *batch, id byte, name string, pos int, attrs map[string]any) {
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs[semconv.AttrESPosition] = pos
		attrs[semconv.AttrESProjectionName] = name
		b.span(semconv.SpanCheckpointUpdate, tid(id), sid(id), pcommon.SpanID{}, ms(0), ms(1), attrs)
	}
	b := newBatch("orders")
	b.span("sqlite_event_store.append_events", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESPosition: 50_000})
	cp(b, 2, "rebuilding", 10, nil) // first seen far behind: replay
	cp(b, 3, "live", 49_990, nil)   // first seen close: live
	cp(b, 4, "stated", 49_990, map[string]any{semconv.AttrSubscriptionPhase: "catching_up"})
	h.consume(b.td)
	spans := h.spans()[semconv.SpanCheckpointUpdate]
	require.Len(t, spans, 3)
	assert.Equal(t, semconv.PhaseReplay, attr(t, spans[0], semconv.AttrProjectionPhase).Str())
	assert.Equal(t, semconv.PhaseLive, attr(t, spans[1], semconv.AttrProjectionPhase).Str())
	assert.Equal(t, semconv.PhaseReplay, attr(t, spans[2], semconv.AttrProjectionPhase).Str())

	// Apply spans take the phase their span states, else their projection's.
	b = newBatch("orders")
	b.apply(tid(5), sid(5), pcommon.SpanID{}, "rebuilding", ms(0), ms(1), nil)
	b.apply(tid(6), sid(6), pcommon.SpanID{}, "live", ms(0), ms(1), nil)
	b.apply(tid(7), sid(7), pcommon.SpanID{}, "live", ms(0), ms(1), map[string]any{semconv.AttrSubscriptionPhase: "rebuild"})
	b.apply(tid(8), sid(8), pcommon.SpanID{}, "rebuilding", ms(0), ms(1), map[string]any{semconv.AttrSubscriptionPhase: "LIVE"})
	b.apply(tid(9), sid(9), pcommon.SpanID{}, "unknown", ms(0), ms(1), map[string]any{semconv.AttrSubscriptionPhase: 7})
	h.consume(b.td)
	want := []string{semconv.PhaseReplay, semconv.PhaseLive, semconv.PhaseReplay, semconv.PhaseLive, semconv.PhaseLive}
	var got []string
	for _, td := range h.sink.AllTraces()[1:] {
		forEachSpan(td, func(_ ptrace.ResourceSpans, s ptrace.Span) {
			got = append(got, attr(t, s, semconv.AttrProjectionPhase).Str())
		})
	}
	assert.Equal(t, want, got)

	// A reset checkpoint puts the projection into replay.
	b = newBatch("orders")
	b.span(semconv.SpanCheckpointReset, tid(10), sid(10), pcommon.SpanID{}, ms(0), ms(1),
		map[string]any{semconv.AttrESProjectionName: "live"})
	b.apply(tid(11), sid(11), pcommon.SpanID{}, "live", ms(0), ms(1), nil)
	h.consume(b.td)
	live := h.spans()["projection.live"]
	assert.Equal(t, semconv.PhaseReplay, attr(t, live[len(live)-1], semconv.AttrProjectionPhase).Str())
}

func TestPhase_ReplayLagHeuristic(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.Enabled = false; c.Phase.ReplayLag = time.Hour })
	b := newBatch("orders")
	b.apply(tid(1), sid(1), pcommon.SpanID{}, "old", ms(0), ms(1), map[string]any{semconv.AttrESEventTimestamp: ms(-2 * 3_600_000).UnixMilli()})
	b.apply(tid(2), sid(2), pcommon.SpanID{}, "fresh", ms(0), ms(1), map[string]any{semconv.AttrESEventTimestamp: ms(-20).UnixMilli()})
	h.consume(b.td)
	assert.Equal(t, semconv.PhaseReplay, attr(t, h.one("projection.old"), semconv.AttrProjectionPhase).Str())
	assert.Equal(t, semconv.PhaseLive, attr(t, h.one("projection.fresh"), semconv.AttrProjectionPhase).Str())
}

func TestBoundedPositionsCounted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Positions.MaxHeads = 2; c.Positions.MaxProjections = 2 })
	b := newBatch("orders")
	for i := byte(0); i < 5; i++ {
		db := string(rune('a' + i))
		b.span("sqlite_event_store.append_events", tid(i), sid(i), pcommon.SpanID{}, ms(0), ms(1),
			map[string]any{semconv.AttrESPosition: 10, semconv.AttrDBName: db})
		b.span(semconv.SpanCheckpointUpdate, tid(i), sid(100+i), pcommon.SpanID{}, ms(0), ms(1),
			map[string]any{semconv.AttrESPosition: 5, semconv.AttrProjectionName: "p", semconv.AttrDBName: db})
	}
	h.consume(b.td)
	assert.Equal(t, int64(3), h.counter("heads_evicted"))
	assert.Equal(t, int64(3), h.counter("projections_evicted"))
}

// An agent that saw the whole stream may have set positions behind already; a gateway keeps its value.
func TestCheckpointKeepsUpstreamPositionsBehind(t *testing.T) {
	b := spantest.New()
	b.Span("in_memory" + semconv.SpanSuffixAppendEvents).Attrs(map[string]any{
		semconv.AttrSide: semconv.SideWrite, semconv.AttrESPosition: 100,
	})
	b.Span(semconv.SpanCheckpointUpdate).Attrs(map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrESProjectionName: "orders",
		semconv.AttrESPosition: 90, semconv.AttrProjectionPositionsBehind: 25,
	})
	td := b.Traces()

	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.NoError(t, p.Shutdown(context.Background()))

	got := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Attributes()
	behind, ok := got.Get(semconv.AttrProjectionPositionsBehind)
	require.True(t, ok)
	assert.Equal(t, int64(25), behind.Int(), "the upstream value, not this instance's 100-90")
	phase, ok := got.Get(semconv.AttrProjectionPhase)
	require.True(t, ok)
	assert.Equal(t, semconv.PhaseLive, phase.Str())
}
