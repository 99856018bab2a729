package hold

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/internal/release"
)

func TestWaitsWakeAndDeadline(t *testing.T) {
	q := NewWaits[string, int]()
	a := q.Add(1, 10, "p")
	b := q.Add(2, 20, "p", "q")
	c := q.Add(3, 30, "r")
	assert.Equal(t, 3, q.Len())
	assert.True(t, q.Waiting("q"))

	woken := q.Wake("p", nil)
	assert.ElementsMatch(t, []*Waiter[string, int]{a, b}, woken)
	assert.False(t, q.Waiting("p"))
	assert.True(t, a.Held(), "woken waiters stay held until removed")
	q.Remove(a, Arrived)
	q.Rewait(b, "s") // one step further: now waits for s
	assert.False(t, q.Waiting("q"))
	assert.Equal(t, []string{"s"}, b.Keys())

	assert.Nil(t, q.Due(19))
	assert.Equal(t, b, q.Due(20), "a is gone; b is the oldest")
	q.Remove(b, AtDeadline)
	q.Remove(b, AtDeadline) // no-op
	assert.False(t, q.Waiting("s"))
	d, ok := q.NextDeadline()
	assert.True(t, ok)
	assert.Equal(t, int64(30), d)
	q.Remove(c, Overflow)
	assert.Nil(t, q.Oldest())
	assert.Zero(t, q.Len())
	assert.Empty(t, q.byKey)

	q.AddDropped(2)
	want := Counts{Held: 3, Dropped: 2}
	want.Released[Arrived], want.Released[AtDeadline], want.Released[Overflow] = 1, 1, 1
	assert.Equal(t, want, q.TakeCounts())
	assert.Equal(t, Counts{}, q.TakeCounts(), "reset")
}

// TestWaitsAgainstModel checks index and queue against a plain model
// through random adds, wakes, rewaits and removals (the queue compacts many
// times on the way).
func TestWaitsAgainstModel(t *testing.T) {
	q := NewWaits[int, int]()
	type mw struct {
		keys     map[int]bool
		deadline int64
	}
	model := map[*Waiter[int, int]]*mw{}
	var order []*Waiter[int, int]
	seed := uint64(7)
	rnd := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	now := int64(0)
	for step := range 20_000 {
		switch op := rnd(10); {
		case op < 4:
			now += int64(rnd(3))
			keys := []int{rnd(50)}
			if k := rnd(50); rnd(3) == 0 && k != keys[0] {
				keys = append(keys, k) // (a key given twice wakes its waiter twice)
			}
			w := q.Add(step, now+100, keys...)
			m := &mw{keys: map[int]bool{}, deadline: now + 100}
			for _, k := range keys {
				m.keys[k] = true
			}
			model[w] = m
			order = append(order, w)
		case op < 6:
			k := rnd(50)
			var want []*Waiter[int, int]
			for w, m := range model {
				if m.keys[k] {
					want = append(want, w)
					delete(m.keys, k)
				}
			}
			got := q.Wake(k, nil)
			require.ElementsMatch(t, want, got, "step %d wake %d", step, k)
			for i, w := range got {
				if i%2 == 0 {
					q.Remove(w, Arrived)
					delete(model, w)
				} else {
					nk := rnd(50)
					q.Rewait(w, nk)
					model[w].keys = map[int]bool{nk: true}
				}
			}
		default:
			for len(order) > 0 && model[order[0]] == nil {
				order = order[1:]
			}
			due := q.Due(now)
			if len(order) > 0 && model[order[0]].deadline <= now {
				require.Equal(t, order[0], due, "step %d", step)
				q.Remove(due, AtDeadline)
				delete(model, due)
			} else {
				require.Nil(t, due, "step %d", step)
			}
		}
		require.Equal(t, len(model), q.Len())
	}
	for _, w := range order {
		if model[w] != nil {
			for k := range model[w].keys {
				require.True(t, q.Waiting(k))
			}
		}
	}
}

func newResourceSpans(td ptrace.Traces, service string, spans ...string) (ptrace.ResourceSpans, ptrace.ScopeSpans) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.SetSchemaUrl("https://schema/1")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("scope-" + service)
	for _, n := range spans {
		ss.Spans().AppendEmpty().SetName(n)
	}
	return rs, ss
}

func TestOutGroupsByOrigin(t *testing.T) {
	in := ptrace.NewTraces()
	rsA, ssA := newResourceSpans(in, "a", "a1", "a2")
	rsB, ssB := newResourceSpans(in, "b", "b1")
	oa, ob := NewOrigin(rsA, ssA), NewOrigin(rsB, ssB)
	held := []Span{Take(ssA.Spans().At(0), oa), Take(ssB.Spans().At(0), ob), Take(ssA.Spans().At(1), oa)}
	assert.Equal(t, "a", func() string { v, _ := oa.Resource().Attributes().Get("service.name"); return v.Str() }())

	var out Out
	assert.True(t, out.Empty())
	assert.Zero(t, out.Traces().SpanCount())
	for i := range held {
		out.Add(&held[i])
	}
	td := out.Traces()
	require.Equal(t, 2, td.ResourceSpans().Len(), "one ResourceSpans per origin")
	first := td.ResourceSpans().At(0)
	assert.Equal(t, "https://schema/1", first.SchemaUrl())
	assert.Equal(t, "scope-a", first.ScopeSpans().At(0).Scope().Name())
	spans := first.ScopeSpans().At(0).Spans()
	require.Equal(t, 2, spans.Len())
	assert.Equal(t, "a1", spans.At(0).Name())
	assert.Equal(t, "a2", spans.At(1).Name())
	assert.Equal(t, "b1", td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(0).Name())
}

type refusing struct {
	consumertest.TracesSink
	mu  sync.Mutex
	err error
}

func (r *refusing) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return r.TracesSink.ConsumeTraces(ctx, td)
}

// TestLoopSleepsUntilDeadline drives the loop with a fake clock: it sets one
// timer for the deadline, releases then, and retries a refused send after
// the retry interval. No wall-clock bounds: the test waits for the loop's
// timers to be registered.
func TestLoopSleepsUntilDeadline(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Unix(1000, 0))
	next := &refusing{}
	sender := release.New(next, 10)
	var mu sync.Mutex
	q := NewWaits[int, Span]()
	loop := NewLoop(clock, time.Second, sender, func() (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		return q.NextDeadline()
	}, func(ctx context.Context) {
		var out Out
		mu.Lock()
		for w := q.Due(clock.Now().UnixNano()); w != nil; w = q.Due(clock.Now().UnixNano()) {
			q.Remove(w, AtDeadline)
			out.Add(&w.Value)
		}
		mu.Unlock()
		_, _ = sender.Send(ctx, out.Traces())
	})
	loop.Start()
	defer loop.Stop()

	in := ptrace.NewTraces()
	rs, ss := newResourceSpans(in, "a", "x")
	mu.Lock()
	q.Add(Take(ss.Spans().At(0), NewOrigin(rs, ss)), clock.Now().Add(5*time.Second).UnixNano(), 1)
	mu.Unlock()
	next.mu.Lock()
	next.err = errors.New("queue full")
	next.mu.Unlock()
	loop.Notify()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "a timer for the deadline")
	clock.Advance(5 * time.Second)
	// Refused: the loop comes back after the retry interval.
	require.Eventually(t, func() bool { return sender.Pending() == 1 }, time.Minute, time.Millisecond)
	next.mu.Lock()
	next.err = nil
	next.mu.Unlock()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "a timer for the retry")
	clock.Advance(time.Second)
	require.Eventually(t, func() bool { return next.SpanCount() == 1 }, time.Minute, time.Millisecond)
	assert.Zero(t, q.Len())
}
