package join

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func ms(n int) int64 { return t0.Add(time.Duration(n) * time.Millisecond).UnixNano() }

func key(trace, span byte) Key { return NewKey([16]byte{trace}, [8]byte{span}) }

type fixture struct {
	e      *Engine
	clock  *clockwork.FakeClock
	mu     sync.Mutex // the expiry goroutine records too
	counts Counts
}

func newFixture(cfg Config) *fixture {
	f := &fixture{clock: clockwork.NewFakeClockAt(t0)}
	f.e = New(cfg, f.clock, func(_ context.Context, c Counts) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.counts.Pairs += c.Pairs
		f.counts.LatePairs += c.LatePairs
		f.counts.Unmatched += c.Unmatched
		f.counts.PendingEvicted += c.PendingEvicted
		f.counts.CommandUnresolved += c.CommandUnresolved
		f.counts.FactsExpired += c.FactsExpired
		f.counts.FactsEvicted += c.FactsEvicted
		f.counts.Duplicates += c.Duplicates
		f.counts.CommandTypesDropped += c.CommandTypesDropped
		f.counts.EventsUnattributed += c.EventsUnattributed
	})
	return f
}

func defaults() Config {
	return Config{MaxFacts: 100, MaxPending: 100, TTL: time.Minute, MaxCommandTypes: 10, MaxDepth: 8}
}

// batch runs fn in one transaction and returns the completions and their carriers.
func (f *fixture) batch(fn func(tx *Tx)) ([]Completion, []Key) {
	tx := f.e.Begin()
	fn(tx)
	cs, ks := tx.Resume(nil, nil)
	tx.End(context.Background())
	return cs, ks
}

func apply(span Key, start, end int64) Apply {
	return Apply{Span: span, Start: start, End: end, Projection: "orders_view", EventType: "OrderPlaced", Service: "views"}
}

// Several applies wait for one producer (one event, several projections); the producer completes them
// all, and the command above it, arriving later, completes their delays.
func TestManyWaitForOneProducer(t *testing.T) {
	f := newFixture(defaults())
	producer, command := key(1, 2), key(1, 1)
	f.batch(func(tx *Tx) {
		for i := range 3 {
			tgt := Target{Trace: [16]byte{2}, Links: [MaxLinks]Key{producer}, NLinks: 1}
			r := tx.Resolve(&tgt)
			require.True(t, r.CanAwait())
			require.False(t, r.ProducerFound)
			tx.Await(apply(key(2, byte(10+i)), ms(100+i), ms(120+i)), &tgt, &r)
		}
	})
	_, pending := f.e.Sizes()
	assert.Equal(t, 3, pending)

	cs, ks := f.batch(func(tx *Tx) {
		tx.Remember(producer, Fact{Kind: Producer, Parent: command.SpanID(), Start: ms(10), End: ms(30)}, nil)
	})
	require.Len(t, cs, 3)
	for i, c := range cs {
		assert.Equal(t, producer, ks[i], "written on the producer")
		assert.True(t, c.HasLag)
		assert.False(t, c.HasDelay, "the command has not arrived")
		assert.InDelta(t, float64(c.Start-ms(30))/1e6, c.LagMs, 1e-9)
	}
	assert.Equal(t, Counts{Pairs: 3, LatePairs: 3}, f.counts)
	_, pending = f.e.Sizes()
	assert.Equal(t, 3, pending, "now waiting for the command")

	cs, ks = f.batch(func(tx *Tx) {
		tx.Remember(command, Fact{Kind: Producer, Start: ms(0), End: ms(50), Command: tx.CommandID("PlaceOrder")}, nil)
	})
	require.Len(t, cs, 3)
	for i, c := range cs {
		assert.Equal(t, command, ks[i])
		assert.False(t, c.HasLag, "the lag was completed once already")
		assert.True(t, c.HasDelay)
		assert.InDelta(t, float64(c.End-ms(50))/1e6, c.DelayMs, 1e-9)
		tx := f.e.Begin()
		assert.Equal(t, "PlaceOrder", tx.CommandName(c.Command))
		tx.End(context.Background())
	}
	_, pending = f.e.Sizes()
	assert.Zero(t, pending)
}

// A pending join that never completes is counted by the reason it waited for, once, when it expires.
func TestPendingExpiresCountedByStage(t *testing.T) {
	f := newFixture(defaults())
	f.batch(func(tx *Tx) {
		tgt := Target{Trace: [16]byte{2}, Links: [MaxLinks]Key{key(1, 9)}, NLinks: 1}
		r := tx.Resolve(&tgt)
		tx.Await(apply(key(2, 1), ms(100), ms(110)), &tgt, &r)

		// A producer whose command is missing: the join waits for the next span up.
		tx.Remember(key(3, 2), Fact{Kind: Producer, Parent: [8]byte{1}, End: ms(30)}, nil)
		tgt2 := Target{Trace: [16]byte{4}, Links: [MaxLinks]Key{key(3, 2)}, NLinks: 1}
		r2 := tx.Resolve(&tgt2)
		require.True(t, r2.ProducerFound)
		require.True(t, r2.AwaitsCommand())
		tx.Await(apply(key(4, 1), ms(100), ms(110)), &tgt2, &r2)
	})
	f.clock.Advance(time.Minute - time.Nanosecond)
	f.batch(func(*Tx) {})
	assert.Zero(t, f.counts.Unmatched+f.counts.CommandUnresolved, "not expired before the ttl")
	f.clock.Advance(time.Nanosecond)
	f.batch(func(*Tx) {})
	assert.Equal(t, int64(1), f.counts.Unmatched)
	assert.Equal(t, int64(1), f.counts.CommandUnresolved)
	_, pending := f.e.Sizes()
	assert.Zero(t, pending)
	// The awaited span after the ttl completes nothing.
	cs, _ := f.batch(func(tx *Tx) { tx.Remember(key(1, 9), Fact{Kind: Producer, End: ms(30)}, nil) })
	assert.Empty(t, cs)
}

// When pending joins are full the oldest is dropped, counted; the chains of those left still complete.
func TestPendingEvictionKeepsChains(t *testing.T) {
	cfg := defaults()
	cfg.MaxPending = 4
	f := newFixture(cfg)
	f.batch(func(tx *Tx) {
		for i := range 6 {
			// Two keys awaited in turn: 0,2,4 wait for A; 1,3,5 for B.
			tgt := Target{Trace: [16]byte{2}, Links: [MaxLinks]Key{key(1, byte(1+i%2))}, NLinks: 1}
			r := tx.Resolve(&tgt)
			tx.Await(apply(key(2, byte(10+i)), ms(100), ms(110)), &tgt, &r)
		}
	})
	assert.Equal(t, int64(2), f.counts.PendingEvicted)
	cs, _ := f.batch(func(tx *Tx) {
		tx.Remember(key(1, 1), Fact{Kind: Producer, End: ms(30)}, nil)
		tx.Remember(key(1, 2), Fact{Kind: Producer, End: ms(30)}, nil)
	})
	var got []byte
	for _, c := range cs {
		got = append(got, c.Span[16])
	}
	assert.ElementsMatch(t, []byte{12, 13, 14, 15}, got, "the four newest complete")
}

// An apply that names its event joins that event's first-ending write span, whatever its parent chain
// says; a chain through a span naming another event is abandoned.
func TestEventIDWinsOverAnotherEventsChain(t *testing.T) {
	f := newFixture(defaults())
	var ekA, ekB Key
	f.batch(func(tx *Tx) {
		ekA, ekB = tx.EventKey("evt-A"), tx.EventKey("evt-B")
		// Event A's save and the consumer's relays for A's message, in trace 1.
		tx.Remember(key(1, 1), Fact{Kind: Producer, End: ms(30)}, nil)
		tx.Remember(key(1, 3), Fact{Kind: Relay, Parent: [8]byte{1}, Event: EventHash(ekA)}, nil)
		// Event B's publish, then its outbox add which ended earlier: the outbox stands for B.
		tx.Remember(key(5, 2), Fact{Kind: Producer, Start: ms(90), End: ms(95), Event: EventHash(ekB)}, &ekB)
		tx.Remember(key(5, 1), Fact{Kind: Producer, Start: ms(80), End: ms(85), Event: EventHash(ekB)}, &ekB)
	})
	var r Resolution
	f.batch(func(tx *Tx) {
		// B applied under A's message: its parent is A's relay.
		tgt := Target{Trace: [16]byte{1}, Parent: [8]byte{3}, EventKey: ekB, HasEvent: true}
		r = tx.Resolve(&tgt)
	})
	require.True(t, r.ProducerFound)
	assert.Equal(t, ms(85), r.Producer.End, "B's outbox add, not A's save")

	f.batch(func(tx *Tx) {
		// Without a write naming the event, a chain that names another event leads nowhere.
		tgt := Target{Trace: [16]byte{1}, Parent: [8]byte{3}, EventKey: tx.EventKey("evt-C"), HasEvent: true}
		r = tx.Resolve(&tgt)
	})
	assert.False(t, r.ProducerFound)
	assert.True(t, r.CanAwait(), "it waits for its own event's write")
}

// A dead end that a join waited for ends it at once.
func TestDeadEndEndsWait(t *testing.T) {
	f := newFixture(defaults())
	f.batch(func(tx *Tx) {
		tgt := Target{Trace: [16]byte{2}, Parent: [8]byte{4}}
		r := tx.Resolve(&tgt)
		tx.Await(apply(key(2, 1), ms(100), ms(110)), &tgt, &r)
	})
	cs, _ := f.batch(func(tx *Tx) { tx.Remember(key(2, 4), Fact{}, nil) })
	assert.Empty(t, cs)
	assert.Equal(t, int64(1), f.counts.Unmatched)
	_, pending := f.e.Sizes()
	assert.Zero(t, pending)
	// A span nothing waits for is not remembered.
	f.batch(func(tx *Tx) {
		tx.Remember(key(7, 7), Fact{}, nil)
		assert.False(t, tx.Stored(key(7, 7)))
	})
}

// The expiry goroutine counts what expires while no batch arrives.
func TestExpiryLoop(t *testing.T) {
	f := newFixture(defaults())
	f.batch(func(tx *Tx) {
		tgt := Target{Trace: [16]byte{2}, Links: [MaxLinks]Key{key(1, 9)}, NLinks: 1}
		r := tx.Resolve(&tgt)
		tx.Await(apply(key(2, 1), ms(100), ms(110)), &tgt, &r)
	})
	f.e.Start()
	defer f.e.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.clock.BlockUntilContext(ctx, 1))
	f.clock.Advance(time.Minute + 15*time.Second)
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.counts.Unmatched == 1
	}, 10*time.Second, time.Millisecond)
	assert.Zero(t, f.e.PendingLen())
}

// Event counts wait for the span they climb to, sum per span, and leave counted when no command takes
// them within TTL or they are dropped to make room.
func TestProducedWaitsSumsAndExpiresCounted(t *testing.T) {
	cfg := defaults()
	cfg.MaxPending = 2
	f := newFixture(cfg)
	f.batch(func(tx *Tx) {
		assert.False(t, tx.HasProduced())
		tx.AddProduced(key(1, 9), 2)
		tx.AddProduced(key(1, 9), 3)
		assert.True(t, tx.HasProduced())
	})
	f.batch(func(tx *Tx) {
		n, ok := tx.TakeProduced(key(1, 9))
		assert.True(t, ok)
		assert.Equal(t, int64(5), n, "two appends under one span")
		_, ok = tx.TakeProduced(key(1, 9))
		assert.False(t, ok, "taken once")
		tx.AddProduced(key(2, 1), 1)
		tx.AddProduced(key(2, 2), 4)
		tx.AddProduced(key(2, 3), 7) // evicts the oldest, key(2, 1)
	})
	assert.Equal(t, int64(1), f.counts.EventsUnattributed)
	f.clock.Advance(cfg.TTL + time.Second)
	f.batch(func(tx *Tx) { assert.False(t, tx.HasProduced()) })
	assert.Equal(t, int64(12), f.counts.EventsUnattributed, "the rest expired")
}

// Relays (consume, dispatch, handle) are walked in their own batch and not stored: an apply whose
// producer is missing goes on waiting from where its walk stopped, and the producer arriving two
// batches later completes it with the exact lag.
func TestRelaysKeptForTheirBatchOnly(t *testing.T) {
	f := newFixture(defaults())
	publish, consume, handle, apply1 := key(1, 2), key(1, 3), key(1, 4), key(1, 5)
	f.batch(func(tx *Tx) {
		tx.Remember(handle, Fact{Kind: Relay, Parent: consume.SpanID()}, nil)
		tx.Remember(consume, Fact{Kind: Relay, Parent: publish.SpanID()}, nil)
		tgt := Target{Trace: [16]byte{1}, Parent: handle.SpanID()}
		r := tx.Resolve(&tgt)
		require.True(t, r.CanAwait())
		require.False(t, r.ProducerFound)
		tx.Await(apply(apply1, ms(100), ms(110)), &tgt, &r)
	})
	facts, pending := f.e.Sizes()
	assert.Zero(t, facts, "relays are not stored past their batch")
	assert.Equal(t, 1, pending)

	f.batch(func(*Tx) {}) // another batch: the relays are gone
	cs, ks := f.batch(func(tx *Tx) {
		tx.Remember(publish, Fact{Kind: Producer, End: ms(40)}, nil)
	})
	require.Len(t, cs, 1)
	assert.Equal(t, publish, ks[0])
	assert.InDelta(t, 60.0, cs[0].LagMs, 1e-9)
	assert.Equal(t, Counts{Pairs: 1, LatePairs: 1}, f.counts)
}

// A relay a pending join waits for is stored like any fact: the apply came first, and the chain above the
// relay may arrive later still.
func TestWaitedRelayStored(t *testing.T) {
	f := newFixture(defaults())
	publish, consume, apply1 := key(1, 2), key(1, 3), key(1, 5)
	f.batch(func(tx *Tx) {
		tgt := Target{Trace: [16]byte{1}, Parent: consume.SpanID()}
		r := tx.Resolve(&tgt)
		tx.Await(apply(apply1, ms(100), ms(110)), &tgt, &r)
	})
	cs, _ := f.batch(func(tx *Tx) {
		tx.Remember(consume, Fact{Kind: Relay, Parent: publish.SpanID()}, nil)
	})
	assert.Empty(t, cs)
	facts, pending := f.e.Sizes()
	assert.Equal(t, 1, facts, "the relay waited for is stored")
	assert.Equal(t, 1, pending, "now waiting for the publish")
	cs, _ = f.batch(func(tx *Tx) {
		tx.Remember(publish, Fact{Kind: Producer, End: ms(70)}, nil)
	})
	require.Len(t, cs, 1)
	assert.InDelta(t, 30.0, cs[0].LagMs, 1e-9)
}
