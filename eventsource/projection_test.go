package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// holdFirstReplay is an OnApply hook that holds a runner's catch-up open: at its first replay-phase apply
// it closes running and waits for release. The runner's lock is held meanwhile, as during any catch-up.
type holdFirstReplay struct {
	once             sync.Once
	running, release chan struct{}
}

func newHold() *holdFirstReplay {
	return &holdFirstReplay{running: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirstReplay) onApply(a eventsource.ApplyResult) {
	if a.Phase == semconv.PhaseReplay {
		h.once.Do(func() { close(h.running); <-h.release })
	}
}

// TestProjectionsAddedWhileWriting: commands keep saving while projections
// start (four bus workers, so deliveries also arrive out of global order).
// Whether started with Start, subscribed first with no explicit catch-up, or
// in the old CatchUp-then-Subscribe order, every projection applies every
// position exactly once, in order. Each start-up is held open by a hook at
// its first replayed event until the writer has saved overlap more events,
// so the writes overlap every catch-up on every run, whatever the scheduler.
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

	// overlap is at most what one bus partition holds (a worker + QueueSize) while a held runner blocks
	// it, so the writer never waits on the runner it is overlapping.
	const before, overlap, after = 200, 8, 100
	for i := range before {
		save(fmt.Sprint("a", i))
	}
	// Nothing in flight: while a runner is held, the bus holds only the overlap's deliveries.
	require.NoError(t, bus.Drain(ctx))
	started := &positions{name: "started"}
	subscribedOnly := &positions{name: "subscribed_only"}
	oldOrder := &positions{name: "old_order"}
	holds := map[*positions]*holdFirstReplay{}
	runners := map[*positions]*eventsource.ProjectionRunner{}
	for _, p := range []*positions{started, subscribedOnly, oldOrder} {
		holds[p] = newHold()
		runners[p], err = eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: store, BatchSize: 16,
			OnApply: holds[p].onApply})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		n := 0
		for _, p := range []*positions{started, subscribedOnly, oldOrder} {
			<-holds[p].running
			for range overlap {
				save(fmt.Sprint("b", n))
				n++
			}
			close(holds[p].release)
		}
		for i := range after {
			save(fmt.Sprint("c", i))
		}
	})
	_, err = runners[started].Start(ctx, bus)
	require.NoError(t, err)
	require.NoError(t, bus.Drain(ctx))
	bus.Subscribe(runners[subscribedOnly]) // its first delivery catches it up
	save("first delivery")
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
	require.Equal(t, int64(before+3*overlap+1+after+1), head)
	for _, p := range []*positions{fromTheStart, started, subscribedOnly, oldOrder} {
		assert.Equal(t, oneToN(head), p.applied(), "%s applied every position once, in order", p.name)
	}
}

// TestLiveDeliveriesWaitWhileAReplayRuns: a Rebuild and bus deliveries to the
// same runner run concurrently; the deliveries wait until the replay is done
// and skip what it applied, so each position is applied once per rebuild
// (eventsource/README.md, Phases).
func TestLiveDeliveriesWaitWhileAReplayRuns(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{Workers: 4, QueueSize: 8})
	defer bus.Close()
	save := writer(t, store, bus)
	ctx := context.Background()

	var (
		mu      sync.Mutex
		applies []eventsource.ApplyResult
		hold    atomic.Pointer[holdFirstReplay]
	)
	p := &positions{name: "rebuilt"}
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: p, Store: store, BatchSize: 16,
		OnApply: func(a eventsource.ApplyResult) {
			mu.Lock()
			applies = append(applies, a)
			mu.Unlock()
			if h := hold.Load(); h != nil {
				h.onApply(a)
			}
		}})
	require.NoError(t, err)
	phases := func() (out map[string][]int64) {
		mu.Lock()
		defer mu.Unlock()
		out = map[string][]int64{}
		for _, a := range applies {
			out[a.Phase] = append(out[a.Phase], a.Event.Position)
		}
		applies = nil
		return out
	}
	// arrivals sees each delivery reach the runner, so the test knows a delivery is in HandleEvent (or
	// about to be) while the replay runs.
	arrivals := make(chan int64, 64)
	bus.Subscribe(eventsource.HandlerFunc("arrivals", func(ctx context.Context, e eventsource.Event) error {
		arrivals <- e.Position
		return r.HandleEvent(ctx, e)
	}))
	_, err = r.CatchUp(ctx) // nothing stored yet: every event below is delivered live
	require.NoError(t, err)
	const live, during = 50, 8 // during: at most what one bus partition holds (a worker + QueueSize)
	for i := range live {
		save(fmt.Sprint("a", i))
	}
	require.NoError(t, bus.Drain(ctx))
	for range live {
		<-arrivals
	}
	assert.Equal(t, map[string][]int64{semconv.PhaseLive: oneToN(live)}, phases())

	// Rebuild, held at its first replayed event; meanwhile more events are saved and every one of their
	// deliveries reaches the runner.
	h := newHold()
	hold.Store(h)
	type result struct {
		n   int
		err error
	}
	rebuilt := make(chan result, 1)
	go func() {
		n, err := r.Rebuild(ctx)
		rebuilt <- result{n, err}
	}()
	<-h.running
	for i := range during {
		save(fmt.Sprint("b", i))
	}
	// The first one's bus worker was idle, so it reaches the runner now, concurrently with the replay
	// (the others queue behind their partition's first, or reach the runner too): it must wait.
	got := map[int64]bool{<-arrivals: true}
	assert.Equal(t, map[string][]int64{semconv.PhaseReplay: {1}}, phases(), "a live delivery was applied while the replay ran")
	close(h.release)
	res := <-rebuilt
	require.NoError(t, res.err)
	require.NoError(t, bus.Drain(ctx))
	for range during - 1 {
		got[<-arrivals] = true
	}
	want := map[int64]bool{}
	for i := range during {
		want[int64(live+1+i)] = true
	}
	assert.Equal(t, want, got, "every delivery reached the runner")

	// The replay read the store after the writes, so it applied them; the waiting deliveries skipped them.
	assert.Equal(t, live+during, res.n)
	assert.Equal(t, map[string][]int64{semconv.PhaseReplay: oneToN(live + during)[1:]}, phases())
	assert.Equal(t, int64(live+during), r.Checkpoint())
	assert.Equal(t, append(oneToN(live), oneToN(live+during)...), p.applied(), "live once, then once per rebuild")
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
