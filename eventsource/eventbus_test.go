package eventsource_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestEventBusKeepsPerAggregateOrderAcrossWorkers(t *testing.T) {
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{Workers: 4, QueueSize: 2})
	var mu sync.Mutex
	seen := map[string][]int64{}
	bus.Subscribe(eventsource.HandlerFunc("rec", func(_ context.Context, e eventsource.Event) error {
		mu.Lock()
		seen[e.AggregateID] = append(seen[e.AggregateID], e.Version)
		mu.Unlock()
		return nil
	}))
	ctx := context.Background()
	const aggs, per = 10, 50
	for v := 1; v <= per; v++ {
		for a := range aggs {
			require.NoError(t, bus.Publish(ctx, []eventsource.Event{{AggregateID: fmt.Sprint("a", a), Version: int64(v), Type: "X"}}))
		}
	}
	require.NoError(t, bus.Drain(ctx))
	assert.Zero(t, bus.QueueDepth())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, aggs)
	for id, vs := range seen {
		require.Len(t, vs, per, id)
		for i, v := range vs {
			require.Equal(t, int64(i+1), v, "aggregate %s out of order", id)
		}
	}
}

func TestEventBusCloseDrainsThenRejects(t *testing.T) {
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	var n int
	bus.Subscribe(eventsource.HandlerFunc("count", func(context.Context, eventsource.Event) error { n++; return nil }))
	ctx := context.Background()
	for range 100 {
		require.NoError(t, bus.Publish(ctx, []eventsource.Event{{AggregateID: "a", Type: "X"}}))
	}
	bus.Close()
	assert.Equal(t, 100, n, "Close lets queued events finish")
	assert.ErrorIs(t, bus.Publish(ctx, []eventsource.Event{{AggregateID: "a", Type: "X"}}), eventsource.ErrBusClosed)
	bus.Close() // idempotent
}

func TestEventBusPublishHonoursContextWhenFull(t *testing.T) {
	block := make(chan struct{})
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{QueueSize: 1})
	bus.Subscribe(eventsource.HandlerFunc("stuck", func(context.Context, eventsource.Event) error { <-block; return nil }))
	ctx, cancel := context.WithCancel(context.Background())
	ev := []eventsource.Event{{AggregateID: "a", Type: "X"}}
	require.NoError(t, bus.Publish(ctx, ev)) // taken by the worker, which blocks
	errc := make(chan error, 1)
	go func() {
		for {
			if err := bus.Publish(ctx, ev); err != nil {
				errc <- err
				return
			}
		}
	}()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	close(block)
	bus.Close()
}

func TestConcurrencyErrorMessage(t *testing.T) {
	err := error(&eventsource.ConcurrencyError{AggregateID: "o1", Expected: 2, Actual: 3})
	assert.ErrorIs(t, err, eventsource.ErrConcurrencyConflict)
	assert.Equal(t, "eventsource: concurrency conflict on aggregate o1: expected version 2, stream is at 3 (reload the aggregate and retry the command)", err.Error())
}

// FuzzEventTraceContext: whatever metadata an event carries (it comes from
// storage or the wire), reading its trace context never panics and only
// yields a valid context for a well-formed traceparent.
func FuzzEventTraceContext(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "k=v")
	f.Add("zz", "a=1,b=2")
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		e := eventsource.Event{Metadata: map[string]string{semconv.MetadataTraceparent: traceparent, semconv.MetadataTracestate: tracestate}}
		sc := e.TraceContext()
		if sc.IsValid() && len(traceparent) < 55 {
			t.Fatalf("valid context from short traceparent %q", traceparent)
		}
		_ = eventsource.ContextWithEventTrace(context.Background(), e)
	})
}

type panicky struct{ summary }

func (*panicky) Apply(context.Context, eventsource.Event) error { panic("bad read model") }

func TestPanicsAreErrorsNotCrashes(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	defer bus.Close()
	dlq := eventsource.NewInMemoryDLQ(10)
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: &panicky{}, Store: store, DLQ: dlq})
	require.NoError(t, err)
	bus.Subscribe(r)
	var handled int
	bus.Subscribe(eventsource.HandlerFunc("after", func(context.Context, eventsource.Event) error { handled++; return nil }))
	bus.Subscribe(eventsource.HandlerFunc("boom", func(context.Context, eventsource.Event) error { panic("boom") }))
	ctx := context.Background()
	stored, err := store.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{{Type: "X"}, {Type: "Y"}})
	require.NoError(t, err)
	require.NoError(t, bus.Publish(ctx, stored[:1]))
	require.NoError(t, bus.Publish(ctx, stored[1:]))
	require.NoError(t, bus.Drain(ctx))
	assert.Equal(t, 2, handled, "the worker survived every panic")
	assert.Equal(t, 2, dlq.Len(), "the panicking projection dead-lettered each event")
	assert.Equal(t, int64(2), r.Checkpoint())
}
