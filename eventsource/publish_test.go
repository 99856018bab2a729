package eventsource_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// received records the aggregate ids an event handler saw, in order.
type received struct {
	mu  sync.Mutex
	ids []string
}

func (r *received) handler(gate <-chan struct{}) eventsource.EventHandler {
	return eventsource.HandlerFunc("received", func(_ context.Context, e eventsource.Event) error {
		<-gate
		r.mu.Lock()
		r.ids = append(r.ids, e.AggregateID)
		r.mu.Unlock()
		return nil
	})
}

func (r *received) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// TestSaveSucceedsWhenPublishFails: the command's context ends while the
// bus queue is full. The events are stored, so Save and the command succeed;
// the failure is counted, on the save span, reported, and the batch is
// published again, before newer events, once the bus has room.
func TestSaveSucceedsWhenPublishFails(t *testing.T) {
	sr, tp := newRecorder(t)
	opt := eventsource.WithTracerProvider(tp)
	gate := make(chan struct{})
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{QueueSize: 1}, opt)
	defer bus.Close()
	got := &received{}
	bus.Subscribe(got.handler(gate))

	var reported []*eventsource.PublishError
	store := eventsource.NewInMemoryEventStore(opt)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder, Publisher: bus,
		OnPublishError: func(e *eventsource.PublishError) { reported = append(reported, e) }}, opt)
	require.NoError(t, err)
	commands := eventsource.NewCommandBus(opt)
	require.NoError(t, eventsource.Register(commands, func(ctx context.Context, c placeOrder) error {
		o := repo.New(c.ID)
		if err := o.Place(1); err != nil {
			return err
		}
		_, err := repo.Save(ctx, o)
		return err
	}))

	ctx := context.Background()
	// o1 is taken by the worker, which waits at the gate; o2 fills the queue.
	for _, id := range []string{"o1", "o2"} {
		_, err := commands.Dispatch(ctx, placeOrder{ID: id})
		require.NoError(t, err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	sr.Reset()
	events, err := commands.Dispatch(ended, placeOrder{ID: "o3"})
	require.NoError(t, err, "the events are stored: the command succeeded")
	require.Len(t, events, 1)
	head, _ := store.HeadPosition(ctx)
	assert.Equal(t, int64(3), head)

	stats := repo.PublishStats()
	assert.Equal(t, eventsource.PublishStats{Failed: 1, Pending: 1}, stats)
	require.Len(t, reported, 1)
	assert.ErrorIs(t, reported[0], context.Canceled)
	assert.Equal(t, "o3", reported[0].Events[0].AggregateID)

	spans := sr.Ended()
	cmd := one(t, spans, semconv.SpanPrefixCommand+"PlaceOrder")
	assert.Equal(t, codes.Unset, cmd.Status().Code)
	assert.Equal(t, int64(1), attrs(cmd)[semconv.AttrEventsCount].AsInt64())
	save := one(t, spans, semconv.SpanRepositorySave)
	assert.Equal(t, codes.Unset, save.Status().Code)
	require.Len(t, save.Events(), 1)
	assert.Equal(t, semconv.EventPublishFailed, save.Events()[0].Name)
	assert.Equal(t, codes.Error, one(t, spans, semconv.SpanBusPublish).Status().Code, "the publish span itself failed")

	// The next save publishes the pending batch first, then its own.
	close(gate)
	_, err = commands.Dispatch(ctx, placeOrder{ID: "o4"})
	require.NoError(t, err)
	require.NoError(t, bus.Drain(ctx))
	assert.Equal(t, []string{"o1", "o2", "o3", "o4"}, got.all())
	assert.Equal(t, eventsource.PublishStats{Failed: 1, Republished: 1}, repo.PublishStats())
}

func TestRetryPublishAndClosedBus(t *testing.T) {
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	store := eventsource.NewInMemoryEventStore()
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder, Publisher: bus, MaxUnpublished: 2})
	require.NoError(t, err)
	bus.Close()
	ctx := context.Background()
	for _, id := range []string{"o1", "o2", "o3"} {
		o := repo.New(id)
		require.NoError(t, o.Place(1))
		stored, err := repo.Save(ctx, o)
		require.NoError(t, err, "a closed bus does not fail the save")
		require.Len(t, stored, 1)
	}
	assert.Zero(t, repo.RetryPublish(ctx))
	// o1 failed at its save and at o2's; o3's save dropped o1 (over MaxUnpublished) and failed on o2,
	// which the retry failed again; o3 waits behind it.
	assert.Equal(t, eventsource.PublishStats{Failed: 4, Pending: 2, Dropped: 1}, repo.PublishStats())
}
