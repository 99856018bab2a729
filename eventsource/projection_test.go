package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// positions is a projection that records every position applied, in order.
type positions struct {
	name string
	mu   sync.Mutex
	seen []int64
}

func (p *positions) Name() string { return p.name }

func (p *positions) Apply(_ context.Context, e eventsource.Event) error {
	p.mu.Lock()
	p.seen = append(p.seen, e.Position)
	p.mu.Unlock()
	return nil
}

func (p *positions) Reset(context.Context) error { return nil }

func (p *positions) applied() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.seen...)
}

func oneToN(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// writer saves one PlaceOrder per call through a repository publishing to bus.
func writer(t *testing.T, store eventsource.EventStore, bus *eventsource.EventBus) func(id string) {
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder, Publisher: bus})
	require.NoError(t, err)
	return func(id string) {
		o := repo.New(id)
		if err := o.Place(1); err != nil {
			panic(err)
		}
		if _, err := repo.Save(context.Background(), o); err != nil {
			panic(err)
		}
	}
}

// TestEventSavedBetweenCatchUpAndSubscribe is the start-up race: an event
// appended after the catch-up read the store and published before the
// runner subscribed is delivered to nobody. The next delivery shows the gap,
// and the runner reads the missing position from the store first.
func TestEventSavedBetweenCatchUpAndSubscribe(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	defer bus.Close()
	save := writer(t, store, bus)
	ctx := context.Background()
	save("o1")
	p := &positions{name: "p"}
	var phases []string
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: store,
		OnApply: func(a eventsource.ApplyResult) { phases = append(phases, a.Phase) }})
	require.NoError(t, err)
	_, err = r.CatchUp(ctx)
	require.NoError(t, err)
	save("o2") // lands between CatchUp and Subscribe
	require.NoError(t, bus.Drain(ctx))
	bus.Subscribe(r)
	save("o3")
	require.NoError(t, bus.Drain(ctx))

	assert.Equal(t, []int64{1, 2, 3}, p.applied())
	assert.Equal(t, []string{semconv.PhaseReplay, semconv.PhaseLive, semconv.PhaseLive}, phases,
		"a missed delivery is live lag, not a replay")
	assert.Equal(t, int64(3), r.Checkpoint())
	assert.Equal(t, int64(1), r.GapFilled())
}

// TestProjectionsAddedWhileWriting: commands keep saving while projections
// start (four bus workers, so deliveries also arrive out of global order).
// Whether started with Start, subscribed first with no explicit catch-up, or
// in the old CatchUp-then-Subscribe order, every projection applies every
// position exactly once, in order.
func TestProjectionsAddedWhileWriting(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{Workers: 4, QueueSize: 8})
	defer bus.Close()
	save := writer(t, store, bus)
	ctx := context.Background()

	fromTheStart := &positions{name: "from_the_start"}
	first, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: fromTheStart, Store: store})
	require.NoError(t, err)
	_, err = first.Start(ctx, bus)
	require.NoError(t, err)

	const before, during = 200, 300
	for i := range before {
		save(fmt.Sprint("a", i))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range during {
			save(fmt.Sprint("b", i))
		}
	})
	started := &positions{name: "started"}
	subscribedOnly := &positions{name: "subscribed_only"}
	oldOrder := &positions{name: "old_order"}
	runners := map[*positions]*eventsource.ProjectionRunner{}
	for _, p := range []*positions{started, subscribedOnly, oldOrder} {
		runners[p], err = eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: store, BatchSize: 16})
		require.NoError(t, err)
	}
	_, err = runners[started].Start(ctx, bus)
	require.NoError(t, err)
	bus.Subscribe(runners[subscribedOnly]) // its first delivery catches it up
	_, err = runners[oldOrder].CatchUp(ctx)
	require.NoError(t, err)
	bus.Subscribe(runners[oldOrder])
	wg.Wait()
	// Events saved before old_order subscribed reach it with the next
	// delivery; one more event makes sure there is one.
	save("last")
	require.NoError(t, bus.Drain(ctx))

	head, err := store.HeadPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(before+during+1), head)
	for _, p := range []*positions{fromTheStart, started, subscribedOnly, oldOrder} {
		assert.Equal(t, oneToN(head), p.applied(), "%s applied every position once, in order", p.name)
	}
}

// refusingDLQ is a real in-memory DLQ that refuses entries while refuse is set.
type refusingDLQ struct {
	*eventsource.InMemoryDLQ
	refuse bool
}

func (q *refusingDLQ) Add(ctx context.Context, d eventsource.DeadLetter) (string, error) {
	if q.refuse {
		return "", errors.New("dlq unavailable")
	}
	return q.InMemoryDLQ.Add(ctx, d)
}

// TestUnstoredDeadLetterHoldsTheCheckpoint: an event that failed and could
// not be dead-lettered is not skipped: the checkpoint stays before it, and
// the next delivery applies it again.
func TestUnstoredDeadLetterHoldsTheCheckpoint(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	defer bus.Close()
	save := writer(t, store, bus)
	ctx := context.Background()
	proj := &summary{failFor: "OrderPlaced"}
	dlq := &refusingDLQ{InMemoryDLQ: eventsource.NewInMemoryDLQ(10), refuse: true}
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: proj, Store: store, DLQ: dlq})
	require.NoError(t, err)
	_, err = r.Start(ctx, bus)
	require.NoError(t, err)

	save("o1")
	require.NoError(t, bus.Drain(ctx))
	assert.Equal(t, int64(0), r.Checkpoint(), "not applied, not dead-lettered: not passed")
	dlq.refuse = false
	save("o2")
	require.NoError(t, bus.Drain(ctx))
	assert.Equal(t, int64(2), r.Checkpoint())
	dead, err := dlq.Get(ctx, "order_summary")
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, []int64{1, 2}, []int64{dead[0].Event.Position, dead[1].Event.Position})
}
