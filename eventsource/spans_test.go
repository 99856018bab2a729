package eventsource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// app wires every component the way an application would.
type app struct {
	store    *eventsource.InMemoryEventStore
	bus      *eventsource.EventBus
	repo     *eventsource.Repository[*order]
	commands *eventsource.CommandBus
	queries  *eventsource.QueryBus
	proj     *summary
	runner   *eventsource.ProjectionRunner
	dlq      *eventsource.InMemoryDLQ
	results  []eventsource.ApplyResult
}

func newApp(t *testing.T, opts ...eventsource.Option) *app {
	t.Helper()
	a := &app{proj: &summary{}}
	a.store = eventsource.NewInMemoryEventStore(opts...)
	a.bus = eventsource.NewEventBus(eventsource.EventBusConfig{}, opts...)
	t.Cleanup(a.bus.Close)
	var err error
	a.repo, err = eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: a.store, Factory: newOrder,
		Snapshots: eventsource.NewInMemorySnapshotStore(opts...), Publisher: a.bus,
	}, opts...)
	require.NoError(t, err)
	a.dlq = eventsource.NewInMemoryDLQ(10, opts...)
	a.runner, err = eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
		Projection: a.proj, Store: a.store, DLQ: a.dlq,
		OnApply: func(r eventsource.ApplyResult) { a.results = append(a.results, r) },
	}, opts...)
	require.NoError(t, err)
	_, err = a.runner.CatchUp(context.Background())
	require.NoError(t, err)
	a.bus.Subscribe(a.runner)

	a.commands = eventsource.NewCommandBus(opts...)
	require.NoError(t, eventsource.Register(a.commands, func(ctx context.Context, cmd placeOrder) error {
		if cmd.Qty <= 0 {
			return errors.New("quantity must be positive")
		}
		o := a.repo.New(cmd.ID)
		if err := o.Place(cmd.Qty); err != nil {
			return err
		}
		_, err := a.repo.Save(ctx, o)
		return err
	}))
	a.queries = eventsource.NewQueryBus(opts...)
	require.NoError(t, eventsource.RegisterQuery(a.queries, func(_ context.Context, q getOrder) (string, error) {
		a.proj.mu.Lock()
		defer a.proj.mu.Unlock()
		return a.proj.byID[q.ID], nil
	}))
	require.NoError(t, eventsource.RegisterQuery(a.queries, func(context.Context, listOrders) ([]string, error) {
		a.proj.mu.Lock()
		defer a.proj.mu.Unlock()
		out := []string{}
		for id := range a.proj.byID {
			out = append(out, id)
		}
		return out, nil
	}))
	return a
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := byName(spans, name)
	require.Len(t, got, 1, "spans named %s", name)
	return got[0]
}

func assertChild(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	assert.Equal(t, parent.SpanContext().SpanID(), child.Parent().SpanID(), "%s should be a child of %s", child.Name(), parent.Name())
	assert.Equal(t, parent.SpanContext().TraceID(), child.SpanContext().TraceID())
}

func TestSpanShapeCommandToProjection(t *testing.T) {
	sr, tp := newRecorder(t)
	a := newApp(t, eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	sr.Reset() // drop the start-up catch-up spans

	stored, err := a.commands.Dispatch(ctx, placeOrder{ID: "o1", Qty: 2})
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.NoError(t, a.bus.Drain(ctx))
	spans := sr.Ended()

	cmd := one(t, spans, semconv.SpanPrefixCommand+"PlaceOrder")
	assert.Equal(t, semconv.ScopeWrite, cmd.InstrumentationScope().Name)
	assert.Equal(t, trace.SpanKindInternal, cmd.SpanKind())
	assert.False(t, cmd.Parent().IsValid())
	ca := attrs(cmd)
	assert.Equal(t, semconv.SideWrite, ca[semconv.AttrSide].AsString())
	assert.Equal(t, "PlaceOrder", ca[semconv.AttrCommandType].AsString())
	assert.Equal(t, "o1", ca[semconv.AttrAggregateID].AsString())
	assert.Equal(t, int64(1), ca[semconv.AttrEventsCount].AsInt64())
	require.Len(t, cmd.Events(), 1)
	assert.Equal(t, semconv.EventDomainEventProduced, cmd.Events()[0].Name)
	assert.Equal(t, []attribute.KeyValue{attribute.String(semconv.EventAttrEventType, "OrderPlaced")}, cmd.Events()[0].Attributes)
	assert.Equal(t, codes.Unset, cmd.Status().Code)

	save := one(t, spans, semconv.SpanRepositorySave)
	assertChild(t, save, cmd)
	assert.Equal(t, semconv.ScopeRuntime, save.InstrumentationScope().Name)

	app := one(t, spans, semconv.EventStoreInMemory+semconv.SpanSuffixAppendEvents)
	assertChild(t, app, save)
	aa := attrs(app)
	assert.Equal(t, int64(1), aa[semconv.AttrESPosition].AsInt64())
	assert.Equal(t, int64(1), aa[semconv.AttrESEventCount].AsInt64())
	assert.Equal(t, int64(0), aa[semconv.AttrESExpectedVersion].AsInt64())
	assert.Equal(t, int64(1), aa[semconv.AttrESVersion].AsInt64())
	assert.Equal(t, "o1", aa[semconv.AttrESAggregateID].AsString())
	assert.Equal(t, "Order", aa[semconv.AttrESAggregateType].AsString())

	// The stored event carries the append span's W3C context.
	assert.Equal(t, app.SpanContext().SpanID(), stored[0].TraceContext().SpanID())

	pub := one(t, spans, semconv.SpanBusPublish)
	assertChild(t, pub, save)
	assert.Equal(t, trace.SpanKindProducer, pub.SpanKind())

	disp := one(t, spans, semconv.SpanBusDispatch)
	assertChild(t, disp, pub)
	assert.Equal(t, trace.SpanKindConsumer, disp.SpanKind())
	assert.Equal(t, int64(1), attrs(disp)[semconv.AttrESHandlerCount].AsInt64())

	handle := one(t, spans, semconv.SpanBusHandle)
	assertChild(t, handle, disp)
	ha := attrs(handle)
	assert.Equal(t, "order_summary", ha[semconv.AttrESHandlerName].AsString())
	assert.True(t, ha[semconv.AttrESHandlerSuccess].AsBool())

	proj := one(t, spans, semconv.SpanPrefixProjection+"order_summary")
	assertChild(t, proj, handle)
	assert.Equal(t, semconv.ScopeProjection, proj.InstrumentationScope().Name)
	require.Len(t, proj.Links(), 1)
	assert.Equal(t, app.SpanContext().SpanID(), proj.Links()[0].SpanContext.SpanID())
	assert.Equal(t, app.SpanContext().TraceID(), proj.Links()[0].SpanContext.TraceID())
	pa := attrs(proj)
	assert.Equal(t, semconv.SideProjection, pa[semconv.AttrSide].AsString())
	assert.Equal(t, "order_summary", pa[semconv.AttrProjectionName].AsString())
	assert.Equal(t, "OrderPlaced", pa[semconv.AttrEventType].AsString())
	assert.Equal(t, "o1", pa[semconv.AttrEventAggregateID].AsString())
	assert.Equal(t, int64(1), pa[semconv.AttrESPosition].AsInt64())
	assert.Equal(t, semconv.PhaseValueLive, pa[semconv.AttrSubscriptionPhase].AsString())
	assert.Equal(t, semconv.ProjectionStatusApplied, pa[semconv.AttrProjectionStatus].AsString())
	assert.Equal(t, stored[0].Timestamp.UnixMilli(), pa[semconv.AttrESEventTimestamp].AsInt64())
	wantLag := float64(proj.StartTime().Sub(stored[0].Timestamp)) / float64(time.Millisecond)
	assert.Equal(t, wantLag, pa[semconv.AttrProjectionLagMs].AsFloat64())
	require.Len(t, a.results, 1)
	assert.Equal(t, wantLag, a.results[0].LagMs, "OnApply reports the span's lag")
	assert.Equal(t, proj.StartTime(), a.results[0].Start)
	assert.Equal(t, proj.EndTime(), a.results[0].End)

	cp := one(t, spans, semconv.SpanCheckpointUpdate)
	assertChild(t, cp, handle)
	cpa := attrs(cp)
	assert.Equal(t, int64(1), cpa[semconv.AttrESPosition].AsInt64())
	assert.Equal(t, "order_summary", cpa[semconv.AttrESProjectionName].AsString())
	assert.Equal(t, semconv.PhaseValueLive, cpa[semconv.AttrSubscriptionPhase].AsString())

	// Every span is accounted for: no stray instrumentation.
	assert.Len(t, spans, 8)
}

func TestSpanShapeCommandErrors(t *testing.T) {
	sr, tp := newRecorder(t)
	a := newApp(t, eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	sr.Reset()

	_, err := a.commands.Dispatch(ctx, placeOrder{ID: "o1", Qty: 0})
	require.Error(t, err)
	_, err = a.commands.Dispatch(ctx, unknownCmd{})
	require.ErrorIs(t, err, eventsource.ErrNoHandler)

	spans := sr.Ended()
	require.Len(t, spans, 2)
	for _, s := range spans {
		assert.Equal(t, codes.Error, s.Status().Code, s.Name())
		a := attrs(s)
		assert.Equal(t, semconv.SideWrite, a[semconv.AttrSide].AsString())
		assert.NotEmpty(t, a[semconv.AttrErrorType].AsString())
		count, hasCount := a[semconv.AttrEventsCount]
		assert.True(t, hasCount, "every command span says how many events it produced")
		assert.Equal(t, int64(0), count.AsInt64(), "a failed command produced no events")
		require.NotEmpty(t, s.Events())
		assert.Equal(t, "exception", s.Events()[0].Name)
	}
	assert.Equal(t, "NoHandler", attrs(one(t, spans, semconv.SpanPrefixCommand+"Unknown"))[semconv.AttrErrorType].AsString())
}

type unknownCmd struct{}

func (unknownCmd) CommandType() string { return "Unknown" }

func TestSpanShapeQueries(t *testing.T) {
	sr, tp := newRecorder(t)
	a := newApp(t, eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	for _, id := range []string{"o1", "o2", "o3"} {
		_, err := a.commands.Dispatch(ctx, placeOrder{ID: id, Qty: 1})
		require.NoError(t, err)
	}
	require.NoError(t, a.bus.Drain(ctx))
	sr.Reset()

	res, err := eventsource.Execute[[]string](ctx, a.queries, listOrders{})
	require.NoError(t, err)
	assert.Len(t, res, 3)
	_, err = eventsource.Execute[string](ctx, a.queries, getOrder{ID: "o1"})
	require.NoError(t, err)
	_, err = eventsource.Execute[any](ctx, a.queries, unknownQuery{})
	require.Error(t, err)

	spans := sr.Ended()
	require.Len(t, spans, 3)
	list := one(t, spans, semconv.SpanPrefixQuery+"ListOrders")
	assert.Equal(t, semconv.ScopeRead, list.InstrumentationScope().Name)
	la := attrs(list)
	assert.Equal(t, semconv.SideRead, la[semconv.AttrSide].AsString())
	assert.Equal(t, "ListOrders", la[semconv.AttrQueryType].AsString())
	assert.Equal(t, int64(3), la[semconv.AttrQueryResultCount].AsInt64())
	_, has := attrs(one(t, spans, semconv.SpanPrefixQuery+"GetOrder"))[semconv.AttrQueryResultCount]
	assert.False(t, has, "a non-list result has no result_count")
	assert.Equal(t, codes.Error, one(t, spans, semconv.SpanPrefixQuery+"Unknown").Status().Code)
}

type unknownQuery struct{}

func (unknownQuery) QueryType() string { return "Unknown" }

func TestSpanShapeRebuildIsReplayPhase(t *testing.T) {
	sr, tp := newRecorder(t)
	a := newApp(t, eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	for _, id := range []string{"o1", "o2"} {
		_, err := a.commands.Dispatch(ctx, placeOrder{ID: id, Qty: 1})
		require.NoError(t, err)
	}
	require.NoError(t, a.bus.Drain(ctx))
	appends := byName(sr.Ended(), semconv.EventStoreInMemory+semconv.SpanSuffixAppendEvents)
	require.Len(t, appends, 2)
	sr.Reset()

	n, err := a.runner.Rebuild(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2, a.proj.applied)
	spans := sr.Ended()

	replay := one(t, spans, semconv.SpanProjectionReplay)
	assert.False(t, replay.Parent().IsValid())
	ra := attrs(replay)
	assert.Equal(t, semconv.SideProjection, ra[semconv.AttrSide].AsString())
	assert.Equal(t, int64(2), ra[semconv.AttrESPosition].AsInt64())
	assertChild(t, one(t, spans, semconv.SpanCheckpointReset), replay)
	readAll := one(t, spans, semconv.EventStoreInMemory+semconv.SpanSuffixReadAll)
	assertChild(t, readAll, replay)

	projs := byName(spans, semconv.SpanPrefixProjection+"order_summary")
	require.Len(t, projs, 2)
	for i, p := range projs {
		assertChild(t, p, replay)
		assert.Equal(t, semconv.PhaseValueInitialCatchup, attrs(p)[semconv.AttrSubscriptionPhase].AsString())
		require.Len(t, p.Links(), 1)
		assert.Equal(t, appends[i].SpanContext().SpanID(), p.Links()[0].SpanContext.SpanID(), "replayed events still link to their producer")
	}
	cp := one(t, spans, semconv.SpanCheckpointUpdate)
	assert.Equal(t, int64(2), attrs(cp)[semconv.AttrESPosition].AsInt64())
	assert.Equal(t, semconv.PhaseValueInitialCatchup, attrs(cp)[semconv.AttrSubscriptionPhase].AsString())

	// Live deliveries of already-replayed positions are skipped, new ones applied.
	_, err = a.commands.Dispatch(ctx, placeOrder{ID: "o3", Qty: 1})
	require.NoError(t, err)
	require.NoError(t, a.bus.Drain(ctx))
	assert.Equal(t, 3, a.proj.applied)
	assert.Equal(t, int64(3), a.runner.Checkpoint())
}

func TestSpanShapeDeadLetter(t *testing.T) {
	sr, tp := newRecorder(t)
	a := newApp(t, eventsource.WithTracerProvider(tp))
	a.proj.failFor = "OrderPlaced"
	ctx := context.Background()
	sr.Reset()
	_, err := a.commands.Dispatch(ctx, placeOrder{ID: "o1", Qty: 1})
	require.NoError(t, err, "a projection failure never fails the command")
	require.NoError(t, a.bus.Drain(ctx))
	spans := sr.Ended()

	proj := one(t, spans, semconv.SpanPrefixProjection+"order_summary")
	assert.Equal(t, codes.Error, proj.Status().Code)
	pa := attrs(proj)
	assert.Equal(t, semconv.ProjectionStatusDeadLettered, pa[semconv.AttrProjectionStatus].AsString())
	assert.Equal(t, int64(2), pa[semconv.AttrESRetryCount].AsInt64())
	add := one(t, spans, semconv.SpanDLQAdd)
	assertChild(t, add, proj)
	assert.Equal(t, "order_summary", attrs(add)[semconv.AttrESProjectionName].AsString())
	assert.False(t, attrs(one(t, spans, semconv.SpanBusHandle))[semconv.AttrESHandlerSuccess].AsBool())
	assert.Equal(t, int64(1), a.runner.Checkpoint(), "a dead letter does not stall the projection")
	require.Len(t, a.results, 1)
	assert.True(t, a.results[0].DeadLettered)
	assert.Equal(t, 3, a.results[0].Attempts)

	// Fix the projection, retry the dead letters.
	a.proj.mu.Lock()
	a.proj.failFor = ""
	a.proj.mu.Unlock()
	sr.Reset()
	n, err := a.runner.RetryDeadLetters(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	spans = sr.Ended()
	one(t, spans, semconv.SpanDLQGet)
	one(t, spans, semconv.SpanDLQRetry)
	one(t, spans, semconv.SpanDLQResolve)
	assert.Equal(t, semconv.PhaseValueInitialCatchup, attrs(one(t, spans, semconv.SpanPrefixProjection+"order_summary"))[semconv.AttrSubscriptionPhase].AsString())
	left, err := a.dlq.Get(ctx, "order_summary")
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestTracingSwitchedOffPerComponent(t *testing.T) {
	sr, tp := newRecorder(t)
	on := eventsource.WithTracerProvider(tp)
	store := eventsource.NewInMemoryEventStore(on, eventsource.WithTracing(false))
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder}, on)
	require.NoError(t, err)
	o := repo.New("o1")
	require.NoError(t, o.Place(1))
	stored, err := repo.Save(context.Background(), o)
	require.NoError(t, err)
	spans := sr.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, semconv.SpanRepositorySave, spans[0].Name())
	// With the store's spans off, events still carry the caller's context.
	assert.Equal(t, spans[0].SpanContext().SpanID(), stored[0].TraceContext().SpanID())
}

var _ = tracetest.NewSpanRecorder

// placedOnly handles OrderPlaced only.
type placedOnly struct{ summary }

func (*placedOnly) Handles(t string) bool { return t == "OrderPlaced" }

func TestProjectionEventFilter(t *testing.T) {
	sr, tp := newRecorder(t)
	opt := eventsource.WithTracerProvider(tp)
	store := eventsource.NewInMemoryEventStore(opt)
	ctx := context.Background()
	o := newOrder("o1")
	require.NoError(t, o.Place(1))
	require.NoError(t, o.Cancel())
	_, err := store.AppendEvents(ctx, "o1", "Order", 0, o.PendingEvents())
	require.NoError(t, err)
	p := &placedOnly{}
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: store}, opt)
	require.NoError(t, err)
	n, err := r.CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "both events are read")
	assert.Equal(t, 1, p.applied)
	assert.Len(t, byName(sr.Ended(), semconv.SpanPrefixProjection+"order_summary"), 1, "only the handled event has an apply span")
	assert.Equal(t, int64(2), r.Checkpoint())
}
