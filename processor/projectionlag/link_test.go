package projectionlag

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spangen"
)

// writeSide builds the CQRS conventions' write side: command ⊃ save ⊃ append, all in trace 1.
func writeSide(b *batch) {
	b.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(50))
	b.write(semconv.SpanRepositorySave, tid(1), sid(2), sid(1), ms(5), ms(40), nil)
	b.write("sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(10), ms(30),
		map[string]any{semconv.AttrESPosition: 7})
}

// linkedApply is a projection span in its own trace, linked to the append span.
func linkedApply(b *batch, attrs map[string]any) ptrace.Span {
	s := b.apply(tid(2), sid(10), pcommon.SpanID{}, "orders_view", ms(100), ms(120), attrs)
	link(s, tid(1), sid(3))
	return s
}

func TestLink_ProducerFirst(t *testing.T) {
	h := newHarness(t, nil)
	w := newBatch("orders")
	writeSide(w)
	h.consume(w.td)
	r := newBatch("views")
	linkedApply(r, nil)
	h.consume(r.td)

	s := h.one("projection.orders_view")
	assert.Equal(t, 70.0, attr(t, s, semconv.AttrProjectionLagMs).Double(), "apply start 100 - append end 30")
	assert.Equal(t, semconv.LagSourceLink, attr(t, s, semconv.AttrProjectionLagSource).Str())
	assert.Equal(t, 70.0, attr(t, s, semconv.AttrConsistencyDelayMs).Double(), "apply end 120 - command end 50")
	assert.Equal(t, "PlaceOrder", attr(t, s, semconv.AttrCommandType).Str())
	assert.Equal(t, int64(1), h.counter("link_pairs"))
	assert.Equal(t, int64(0), h.counter("link_unmatched"))
}

// The apply arrives first: it goes on at once, and the spans that arrive later complete its join,
// each carrying what it completed.
func TestLink_ProjectionFirst(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	linkedApply(r, map[string]any{semconv.AttrEventType: "OrderPlaced"})
	r.span("other", tid(2), sid(11), pcommon.SpanID{}, ms(0), ms(1), nil)
	h.consume(r.td)
	assert.Equal(t, 2, h.sink.SpanCount(), "nothing is held")
	s := h.one("projection.orders_view")
	noAttr(t, s, semconv.AttrProjectionLagMs)
	assert.Equal(t, semconv.PhaseLive, attr(t, s, semconv.AttrProjectionPhase).Str())
	_, pending := h.sizes()
	assert.Equal(t, 1, pending)

	// The append arrives first, the command later (it ends last): the append carries the lag, the
	// command the delay.
	w := newBatch("orders")
	w.write("sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(10), ms(30), nil)
	w.write(semconv.SpanRepositorySave, tid(1), sid(2), sid(1), ms(5), ms(40), nil)
	h.consume(w.td)
	lag := h.applied("sqlite_event_store.append_events")
	require.Len(t, lag, 1)
	assert.Equal(t, map[string]any{
		semconv.AttrProjectionName:      "orders_view",
		semconv.AttrEventType:           "OrderPlaced",
		semconv.AttrServiceName:         "views",
		semconv.AttrProjectionPhase:     semconv.PhaseLive,
		semconv.EventAttrAppliedTraceID: "0a020102030405060708090a0b0c0d02",
		semconv.EventAttrAppliedSpanID:  "0b0a01020304050a",
		semconv.AttrProjectionLagMs:     70.0,
		semconv.AttrProjectionLagSource: semconv.LagSourceLink,
	}, lag[0].AsRaw(), "apply start 100 - append end 30")
	_, pending = h.sizes()
	assert.Equal(t, 1, pending, "still waiting for the command span")

	w = newBatch("orders")
	w.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(50))
	h.consume(w.td)
	delay := h.applied("command.PlaceOrder")
	require.Len(t, delay, 1)
	d, _ := delay[0].Get(semconv.AttrConsistencyDelayMs)
	assert.Equal(t, 70.0, d.Double(), "apply end 120 - command end 50")
	ct, _ := delay[0].Get(semconv.AttrCommandType)
	assert.Equal(t, "PlaceOrder", ct.Str())
	_, hasLag := delay[0].Get(semconv.AttrProjectionLagMs)
	assert.False(t, hasLag, "the lag was observed once, on the append")
	_, pending = h.sizes()
	assert.Zero(t, pending)
	assert.Equal(t, int64(1), h.counter("link_pairs"))
	assert.Equal(t, int64(1), h.counter("link_late_pairs"))
	assert.Zero(t, h.counter("link_unmatched"))
}

func TestLink_PendingExpires(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	linkedApply(r, nil) // producer never comes
	h.consume(r.td)
	assert.Equal(t, 1, h.sink.SpanCount())
	h.advance(defaultTTL - time.Millisecond)
	assert.Zero(t, h.counter("link_unmatched"), "ttl is 35s")
	h.advance(time.Millisecond)
	assert.Equal(t, int64(1), h.counter("link_unmatched"))
	_, pending := h.sizes()
	assert.Zero(t, pending)
	// The producer after the ttl completes nothing.
	w := newBatch("orders")
	writeSide(w)
	h.consume(w.td)
	assert.Empty(t, h.applied("sqlite_event_store.append_events"))
}

func TestLink_LagWhenCommandNeverComes(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	linkedApply(r, nil)
	h.consume(r.td)
	w := newBatch("orders")
	w.write("sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(10), ms(30), nil)
	h.consume(w.td)
	require.Len(t, h.applied("sqlite_event_store.append_events"), 1)
	h.advance(2 * time.Minute)
	assert.Equal(t, int64(1), h.counter("link_command_unresolved"))
	assert.Zero(t, h.counter("link_unmatched"))
}

func TestLink_TimeSourceWinsButDelayStillJoined(t *testing.T) {
	h := newHarness(t, nil)
	w := newBatch("orders")
	writeSide(w)
	h.consume(w.td)
	r := newBatch("views")
	linkedApply(r, map[string]any{semconv.AttrESEventTimestamp: ms(20).UnixMilli()})
	h.consume(r.td)
	s := h.one("projection.orders_view")
	assert.Equal(t, 80.0, attr(t, s, semconv.AttrProjectionLagMs).Double())
	assert.Equal(t, semconv.LagSourceEventTimestamp, attr(t, s, semconv.AttrProjectionLagSource).Str())
	assert.Equal(t, 70.0, attr(t, s, semconv.AttrConsistencyDelayMs).Double())
}

// A span that reports its lag is observed at once; its delay still waits for the command, and the
// late event carries the delay only, so the lag is not counted twice.
func TestLink_ReportedLagThenLateDelay(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	linkedApply(r, map[string]any{semconv.AttrProjectionLagMs: 5.0})
	h.consume(r.td)
	assert.Equal(t, 5.0, attr(t, h.one("projection.orders_view"), semconv.AttrProjectionLagMs).Double())
	w := newBatch("orders")
	writeSide(w)
	h.consume(w.td)
	late := h.applied("sqlite_event_store.append_events")
	require.Len(t, late, 1, "the append, the span the join waited for, carries the delay")
	_, hasLag := late[0].Get(semconv.AttrProjectionLagMs)
	assert.False(t, hasLag)
	d, _ := late[0].Get(semconv.AttrConsistencyDelayMs)
	assert.Equal(t, 70.0, d.Double())
	assert.Equal(t, int64(1), h.counter("link_pairs"))
}

// Eventsource runtime conventions: publish (service A) → remote child consume → dispatch → handle →
// projection apply (service B), one trace. The SDK exports children first,
// so the apply arrives before its parents.
func TestLink_EventsourceParentChain(t *testing.T) {
	for _, order := range []string{"consumer-first", "publisher-first"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, nil)
			tr := tid(5)
			pub := newBatch("orders")
			pub.command(tr, sid(1), "PlaceOrder", ms(0), ms(60))
			pub.write(semconv.SpanBusPublish, tr, sid(2), sid(1), ms(20), ms(45), nil)
			con := newBatch("views")
			con.apply(tr, sid(6), sid(5), "orders_view", ms(200), ms(230), nil).SetName(semconv.SpanProjectionHandle)
			proj := map[string]any{semconv.AttrSide: semconv.SideProjection}
			con.span(semconv.SpanBusHandle, tr, sid(5), sid(4), ms(195), ms(235), proj)
			con.span(semconv.SpanBusDispatch, tr, sid(4), sid(3), ms(190), ms(240), proj)
			con.span(semconv.SpanBusConsume, tr, sid(3), sid(2), ms(180), ms(250), proj)
			if order == "consumer-first" {
				h.consume(con.td)
				h.consume(pub.td)
			} else {
				h.consume(pub.td)
				h.consume(con.td)
			}
			lag, delay, ct := 0.0, 0.0, ""
			if order == "consumer-first" {
				late := h.applied(semconv.SpanBusPublish)
				require.Len(t, late, 1, "the publish completes the join")
				v, _ := late[0].Get(semconv.AttrProjectionLagMs)
				lag = v.Double()
				v, _ = late[0].Get(semconv.AttrConsistencyDelayMs)
				delay = v.Double()
				v, _ = late[0].Get(semconv.AttrCommandType)
				ct = v.Str()
			} else {
				s := h.one(semconv.SpanProjectionHandle)
				assert.Equal(t, semconv.LagSourceLink, attr(t, s, semconv.AttrProjectionLagSource).Str())
				lag = attr(t, s, semconv.AttrProjectionLagMs).Double()
				delay = attr(t, s, semconv.AttrConsistencyDelayMs).Double()
				ct = attr(t, s, semconv.AttrCommandType).Str()
			}
			assert.Equal(t, 155.0, lag, "apply start 200 - publish end 45")
			assert.Equal(t, 170.0, delay, "apply end 230 - command end 60")
			assert.Equal(t, "PlaceOrder", ct)
			_, pending := h.sizes()
			assert.Zero(t, pending)
			assert.Equal(t, int64(1), h.counter("link_pairs"))
		})
	}
}

// CQRS conventions in process: the projection runs synchronously inside the command
// and links to it; the command is still open when the apply starts.
func TestLink_SynchronousDispatchIsNotSkew(t *testing.T) {
	h := newHarness(t, nil)
	b := newBatch("orders")
	s := b.apply(tid(1), sid(5), sid(1), "orders_view", ms(20), ms(25), nil)
	link(s, tid(1), sid(1))
	b.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(50))
	h.consume(b.td)
	s = h.one("projection.orders_view")
	assert.Equal(t, 0.0, attr(t, s, semconv.AttrProjectionLagMs).Double())
	assert.Equal(t, 0.0, attr(t, s, semconv.AttrConsistencyDelayMs).Double())
	assert.Equal(t, int64(0), h.counter("negative_lag"))
}

func TestLink_CrossTraceSkewIsCounted(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NegativeLag = negativeLagFlag })
	w := newBatch("orders")
	w.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(500))
	h.consume(w.td)
	r := newBatch("views")
	s := r.apply(tid(2), sid(10), pcommon.SpanID{}, "orders_view", ms(100), ms(120), nil)
	link(s, tid(1), sid(1))
	h.consume(r.td)
	s = h.one("projection.orders_view")
	assert.Equal(t, -400.0, attr(t, s, semconv.AttrProjectionLagMs).Double())
	assert.Equal(t, -380.0, attr(t, s, semconv.AttrConsistencyDelayMs).Double())
	assert.True(t, attr(t, s, semconv.AttrProjectionClockSkew).Bool())
	assert.Equal(t, int64(2), h.counter("negative_lag"))
}

func TestLink_BadInput(t *testing.T) {
	h := newHarness(t, nil)
	w := newBatch("orders")
	writeSide(w)
	writeSide(w) // duplicate producers: first kept, counted
	h.consume(w.td)
	assert.Equal(t, int64(3), h.counter("link_duplicates"))

	r := newBatch("views")
	s := r.apply(tid(2), sid(10), pcommon.SpanID{}, "zero_link", ms(100), ms(120), nil)
	link(s, pcommon.TraceID{}, pcommon.SpanID{}) // empty link: ignored, nothing to wait for
	s = r.apply(tid(2), sid(11), pcommon.SpanID{}, "nowhere", ms(100), ms(120), nil)
	link(s, tid(9), sid(9)) // a link to nowhere
	link(s, tid(1), sid(3)) // second link resolves
	s = r.apply(tid(2), sid(12), pcommon.SpanID{}, "side_int", ms(100), ms(120), nil)
	s.Attributes().PutInt(semconv.AttrSide, 3) // wrong type: not a projection span
	h.consume(r.td)

	_, pending := h.sizes()
	assert.Zero(t, pending)
	noAttr(t, h.one("projection.zero_link"), semconv.AttrProjectionLagMs)
	assert.Equal(t, 70.0, attr(t, h.one("projection.nowhere"), semconv.AttrProjectionLagMs).Double())
	noAttr(t, h.one("projection.side_int"), semconv.AttrProjectionPhase)
}

// A waited-on span that is neither a producer nor a relay ends the wait.
func TestLink_DeadEndEndsWait(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	r.apply(tid(2), sid(10), sid(4), "orders_view", ms(100), ms(120), nil)
	h.consume(r.td)
	_, pending := h.sizes()
	assert.Equal(t, 1, pending)
	r = newBatch("views")
	r.span("GET /internal", tid(2), sid(4), pcommon.SpanID{}, ms(90), ms(130), map[string]any{semconv.AttrSide: semconv.SideRead})
	h.consume(r.td)
	_, pending = h.sizes()
	assert.Zero(t, pending)
	assert.Empty(t, h.applied("GET /internal"))
	assert.Equal(t, int64(1), h.counter("link_unmatched"))
}

func TestLink_StoreTTLAndEviction(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.MaxProducers = 2 })
	w := newBatch("orders")
	writeSide(w) // 3 producers into a store of 2: the command is evicted
	h.consume(w.td)
	assert.Equal(t, int64(1), h.counter("link_evicted"))
	facts, _ := h.sizes()
	assert.Equal(t, 2, facts)
	h.advance(2 * time.Minute)
	assert.Equal(t, int64(2), h.counter("link_expired"))
	facts, _ = h.sizes()
	assert.Zero(t, facts)

	// The producer has expired: the projection waits, then goes unmatched.
	r := newBatch("views")
	linkedApply(r, nil)
	h.consume(r.td)
	h.advance(2 * time.Minute)
	noAttr(t, h.one("projection.orders_view"), semconv.AttrProjectionLagMs)
	assert.Equal(t, int64(1), h.counter("link_unmatched"))
}

func TestLink_PendingBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.MaxPending = 2 })
	r := newBatch("views")
	for i := byte(0); i < 5; i++ {
		s := r.apply(tid(2), sid(10+i), pcommon.SpanID{}, "v", ms(100), ms(120), nil)
		link(s, tid(1), sid(100+i))
	}
	h.consume(r.td)
	_, pending := h.sizes()
	assert.Equal(t, 2, pending)
	assert.Equal(t, 5, h.sink.SpanCount(), "every span went on")
	assert.Equal(t, int64(3), h.counter("link_pending_evicted"))
	// The newest two still complete.
	w := newBatch("orders")
	for i := byte(0); i < 5; i++ {
		w.write("sqlite_event_store.append_events", tid(1), sid(100+i), pcommon.SpanID{}, ms(10), ms(30), nil)
	}
	h.consume(w.td)
	assert.Len(t, h.applied("sqlite_event_store.append_events"), 2)
	assert.Equal(t, int64(2), h.counter("link_late_pairs"))
}

// The engine's own goroutine counts what expires while no batch arrives.
func TestJoinExpiryLoopWithFakeClock(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.lp.start(context.Background(), nil))
	r := newBatch("views")
	linkedApply(r, nil)
	h.consume(r.td)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.clock.BlockUntilContext(ctx, 1)) // the ticker is registered
	h.clock.Advance(2*time.Minute + 30*time.Second)
	require.Eventually(t, func() bool { return h.counter("link_unmatched") == 1 }, 10*time.Second, time.Millisecond)
}

func TestCommandTypeTableFull(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.MaxCommandTypes = 0 })
	w := newBatch("orders")
	writeSide(w)
	h.consume(w.td)
	r := newBatch("views")
	linkedApply(r, nil)
	h.consume(r.td)
	s := h.one("projection.orders_view")
	assert.Equal(t, 70.0, attr(t, s, semconv.AttrConsistencyDelayMs).Double(), "delay still measured")
	noAttr(t, s, semconv.AttrCommandType)
	assert.Equal(t, int64(1), h.counter("command_types_dropped"))
}

// TestMillionProducersBounded pushes 1M distinct producer spans through the
// processor and asserts the store never exceeds its limit (no timing).
func TestMillionProducersBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1M spans; the store-level test covers the bound in -short mode")
	}
	const limit, total, per = 5_000, 1_000_000, 10_000
	h := newHarness(t, func(c *Config) { c.Link.MaxProducers = limit })
	b := newBatch("orders")
	for range per {
		b.write("sqlite_event_store.append_events", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(1), nil)
	}
	var n uint64
	for sent := 0; sent < total; sent += per {
		td := ptrace.NewTraces()
		b.td.CopyTo(td)
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := 0; i < spans.Len(); i++ {
			n++
			tr, s := benchIDs(n)
			spans.At(i).SetTraceID(tr)
			spans.At(i).SetSpanID(s)
		}
		h.consume(td)
		facts, _ := h.sizes()
		require.LessOrEqual(t, facts, limit)
		h.sink.Reset()
	}
	facts, _ := h.sizes()
	assert.Equal(t, limit, facts)
	assert.Equal(t, int64(total-limit), h.counter("link_evicted"))
}

// Replayed or very old events do not wait for producers that are long gone.
func TestLink_StaleEventsNotHeld(t *testing.T) {
	h := newHarness(t, nil)
	r := newBatch("views")
	linkedApply(r, map[string]any{semconv.AttrProjectionLagMs: 5.0, semconv.AttrSubscriptionPhase: semconv.PhaseReplay})
	s := r.apply(tid(3), sid(11), pcommon.SpanID{}, "old", ms(100), ms(120), map[string]any{semconv.AttrESEventTimestamp: ms(-3_600_000).UnixMilli()})
	link(s, tid(1), sid(3))
	h.consume(r.td)
	_, pending := h.sizes()
	assert.Zero(t, pending)
	assert.Equal(t, 2, h.sink.SpanCount())
	assert.Equal(t, int64(0), h.counter("link_unmatched"))
	assert.Equal(t, semconv.PhaseReplay, attr(t, h.one("projection.orders_view"), semconv.AttrProjectionPhase).Str())
}

// What the join could not do is counted: an apply joined to its producer
// whose command never arrives, and an apply of a replayed event.
func TestLink_CountsWhatItCouldNotJoin(t *testing.T) {
	h := newHarness(t, nil)
	w := newBatch("orders")
	// The append and the save, but not the command above them.
	w.write(semconv.SpanRepositorySave, tid(1), sid(2), sid(1), ms(5), ms(40), nil)
	w.write("sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(10), ms(30),
		map[string]any{semconv.AttrESPosition: 7})
	h.consume(w.td)
	r := newBatch("views")
	linkedApply(r, map[string]any{semconv.AttrESEventTimestamp: ms(30).UnixMilli()})
	h.consume(r.td)
	h.advance(2 * time.Minute)
	apply := h.one("projection.orders_view")
	noAttr(t, apply, semconv.AttrConsistencyDelayMs)
	assert.Equal(t, int64(1), h.counter("link_pairs"))
	assert.Equal(t, int64(1), h.counter("link_command_unresolved"))

	replay := newBatch("views")
	s := replay.apply(tid(4), sid(40), pcommon.SpanID{}, "orders_view", ms(100), ms(120),
		map[string]any{semconv.AttrSubscriptionPhase: semconv.PhaseReplay, semconv.AttrESEventTimestamp: ms(30).UnixMilli()})
	link(s, tid(3), sid(30))
	h.consume(replay.td)
	assert.Equal(t, int64(1), h.counter("link_stale"))
	assert.Zero(t, h.counter("link_unmatched"), "a replayed event's producer is not expected")
}

// The store keeps what a join can reach: the command, a span between it and the writes, the save, the
// append and the publish. Not the store reads made for the command, nor the database calls (CLIENT
// spans that write no events), nor the consumer's relays past their batch; the lag and the delay are
// still joined through all of them, in either order of arrival.
func TestLink_StoresWhatAJoinNeeds(t *testing.T) {
	for _, order := range []string{"publisher-first", "consumer-first"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, nil)
			tr := tid(7)
			pub := newBatch("orders")
			client := func(s ptrace.Span) { s.SetKind(ptrace.SpanKindClient) }
			pub.write(semconv.SpanRepositoryLoad, tr, sid(2), sid(8), ms(1), ms(9), nil)
			client(pub.write(semconv.EventStorePostgreSQL+semconv.SpanSuffixGetEvents, tr, sid(3), sid(2), ms(2), ms(8), nil))
			client(pub.write("SELECT orders", tr, sid(4), sid(8), ms(10), ms(12), nil))
			client(pub.write(semconv.EventStorePostgreSQL+semconv.SpanSuffixAppendEvents, tr, sid(6), sid(5), ms(16), ms(24), nil))
			pub.write(semconv.SpanRepositorySave, tr, sid(5), sid(8), ms(15), ms(25), nil)
			pub.write(semconv.SpanBusPublish, tr, sid(7), sid(8), ms(30), ms(45), nil).SetKind(ptrace.SpanKindProducer)
			pub.write("OrderService.place", tr, sid(8), sid(1), ms(1), ms(50), nil)
			pub.command(tr, sid(1), "PlaceOrder", ms(0), ms(60))

			con := newBatch("views")
			proj := map[string]any{semconv.AttrSide: semconv.SideProjection}
			con.apply(tr, sid(13), sid(12), "orders_view", ms(200), ms(230), nil).SetName(semconv.SpanProjectionHandle)
			con.span(semconv.SpanBusHandle, tr, sid(12), sid(11), ms(195), ms(235), proj)
			con.span(semconv.SpanBusDispatch, tr, sid(11), sid(10), ms(190), ms(240), proj)
			con.span(semconv.SpanBusConsume, tr, sid(10), sid(7), ms(180), ms(250), proj).SetKind(ptrace.SpanKindConsumer)

			first, second := pub, con
			if order == "consumer-first" {
				first, second = con, pub
			}
			h.consume(first.td)
			h.consume(newBatch("other").td) // a batch between: nothing of the first is kept for it
			h.consume(second.td)

			facts, pending := h.sizes()
			assert.Equal(t, 5, facts, "command, OrderService.place, save, append, publish")
			assert.Zero(t, pending)
			assert.Equal(t, int64(1), h.counter("link_pairs"))
			var lag, delay float64
			if order == "consumer-first" {
				late := h.applied(semconv.SpanBusPublish)
				require.Len(t, late, 1, "the publish completes the join; its command came with it")
				v, _ := late[0].Get(semconv.AttrProjectionLagMs)
				lag = v.Double()
				v, _ = late[0].Get(semconv.AttrConsistencyDelayMs)
				delay = v.Double()
			} else {
				s := h.one(semconv.SpanProjectionHandle)
				lag = attr(t, s, semconv.AttrProjectionLagMs).Double()
				delay = attr(t, s, semconv.AttrConsistencyDelayMs).Double()
			}
			assert.Equal(t, 155.0, lag, "apply start 200 - publish end 45")
			assert.Equal(t, 170.0, delay, "apply end 230 - command end 60")
		})
	}
}

// A CLIENT span is not remembered on its own, but one a pending join waits for is: a projection's
// server span whose remote parent is the writer's HTTP call (a webhook) still gets its lag when the
// consumer's spans come first.
func TestLink_WaitedClientSpanJoins(t *testing.T) {
	h := newHarness(t, nil)
	tr := tid(8)
	con := newBatch("views")
	con.apply(tr, sid(13), sid(12), "orders_view", ms(200), ms(230), nil)
	con.span("POST /hooks/orders", tr, sid(12), sid(7), ms(190), ms(240), // answered 202 at once
		map[string]any{semconv.AttrSide: semconv.SideProjection}).SetKind(ptrace.SpanKindServer)
	h.consume(con.td)
	pub := newBatch("orders")
	pub.write("POST", tr, sid(7), sid(1), ms(30), ms(45), nil).SetKind(ptrace.SpanKindClient)
	pub.command(tr, sid(1), "PlaceOrder", ms(0), ms(60))
	h.consume(pub.td)
	late := h.applied("POST")
	require.Len(t, late, 1)
	v, _ := late[0].Get(semconv.AttrProjectionLagMs)
	assert.Equal(t, 155.0, v.Double(), "apply start 200 - call end 45")
}

// TestLink_StoreShareOfTheMix measures what share of the benchmarks' default stream (half the CQRS
// conventions, half the eventsource runtime: commands, queries, projection deliveries with their
// relays and checkpoints) the store keeps, and so how many seconds of history link.max_producers buys.
// Every write and relay span was stored before (0.58 of the spans); only those a join can reach are now.
func TestLink_StoreShareOfTheMix(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Link.MaxProducers = 1_000_000 })
	cfg := spangen.DefaultConfig()
	cfg.Annotate = true // what cqrsside adds
	g := spangen.New(cfg)
	spans := 0
	for range 100 {
		td := g.Batch()
		spans += td.SpanCount()
		h.consume(td)
	}
	facts, _ := h.sizes()
	share := float64(facts) / float64(spans)
	const rate = 50_000
	t.Logf("%d spans, %d facts stored: %.3f of the spans; %d entries hold %.1f s at %d spans/s",
		spans, facts, share, defaultMaxProducers, defaultMaxProducers/(share*rate), rate)
	assert.Less(t, share, 0.3)
}

// eventsource-py has no command span: its repository save runs under the app's own entry point (an HTTP
// server span cqrsside leaves without a side). That entry point is stored as a dead end, so an apply
// joined to the append gets its lag and does not wait link.ttl for a command that does not exist; the
// entry point arriving in the batch before the apply or in the apply's own batch ends the walk alike.
func TestLink_EntryPointAboveAWriteEndsTheWalkToTheCommand(t *testing.T) {
	for _, sameBatch := range []bool{false, true} {
		h := newHarness(t, nil)
		w := newBatch("orders")
		server := w.span("POST /orders", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(60), nil)
		server.SetKind(ptrace.SpanKindServer)
		w.write(semconv.SpanRepositorySave, tid(1), sid(2), sid(1), ms(5), ms(50), nil)
		w.write("eventsource.sqlite_event_store.append_events", tid(1), sid(3), sid(2), ms(10), ms(40), nil)
		r := w
		if !sameBatch {
			h.consume(w.td)
			r = newBatch("views")
		}
		link(r.apply(tid(2), sid(10), pcommon.SpanID{}, "orders_view", ms(100), ms(120), nil), tid(1), sid(3))
		h.consume(r.td)

		_, pending := h.sizes()
		assert.Zero(t, pending, "same batch %v: nothing waits for a command", sameBatch)
		assert.Equal(t, 60.0, attr(t, h.one("projection.orders_view"), semconv.AttrProjectionLagMs).Double())
		noAttr(t, h.one("projection.orders_view"), semconv.AttrConsistencyDelayMs)
		h.advance(2 * time.Minute)
		assert.Zero(t, h.counter("link_command_unresolved"), "same batch %v", sameBatch)
	}
}
