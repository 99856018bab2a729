package hold

// Reason is why a waiter left a Waits.
type Reason uint8

const (
	// Arrived: a key it waited for arrived (released early, joined).
	Arrived Reason = iota
	// AtDeadline: its wait ended.
	AtDeadline
	// Overflow: released early to make room.
	Overflow
	// Shutdown: released early because the component stops.
	Shutdown
	numReasons
)

// Counts are what a Waits did since the last TakeCounts.
type Counts struct {
	// Held counts waiters added.
	Held int64
	// Released counts waiters removed, by reason.
	Released [numReasons]int64
	// Dropped counts released spans the next consumer refused for good
	// (see Loop and internal/release); the caller adds them.
	Dropped int64
}

// Waiter is one value waiting for keys until a deadline.
type Waiter[K comparable, T any] struct {
	// Value is the caller's: a held span, or a pending join.
	Value T
	// Deadline is in unix nanoseconds.
	Deadline int64

	keys []K
	one  [1]K // backs keys for the common single-key wait: no allocation
	held bool
}

// Held reports whether w is still waiting (not removed).
func (w *Waiter[K, T]) Held() bool { return w.held }

// Keys returns the keys w waits for.
func (w *Waiter[K, T]) Keys() []K { return w.keys }

// Waits is the deadline-ordered set of waiters, indexed by the keys they
// wait for. See the package doc for the ordering.
type Waits[K comparable, T any] struct {
	queue  []*Waiter[K, T] // arrival order; removed waiters are skipped
	head   int
	live   int
	byKey  map[K][]*Waiter[K, T]
	counts Counts
}

// NewWaits returns an empty Waits.
func NewWaits[K comparable, T any]() *Waits[K, T] {
	return &Waits[K, T]{byKey: map[K][]*Waiter[K, T]{}}
}

// Len is the number of waiters held.
func (q *Waits[K, T]) Len() int { return q.live }

// Add holds v until deadline (unix nanoseconds), waiting for keys. A key
// given twice is registered twice, and Wake returns the waiter twice.
func (q *Waits[K, T]) Add(v T, deadline int64, keys ...K) *Waiter[K, T] {
	w := &Waiter[K, T]{Value: v, Deadline: deadline, held: true}
	q.queue = append(q.queue, w)
	q.live++
	q.counts.Held++
	q.register(w, keys)
	return w
}

func (q *Waits[K, T]) register(w *Waiter[K, T], keys []K) {
	switch len(keys) {
	case 0:
		w.keys = nil
	case 1:
		w.one[0] = keys[0]
		w.keys = w.one[:]
	default:
		w.keys = append([]K(nil), keys...)
	}
	for _, k := range w.keys {
		q.byKey[k] = append(q.byKey[k], w)
	}
}

// unregister removes w from the index of each of its keys. The last waiter
// of a list takes the removed one's place: order within a key is not kept.
func (q *Waits[K, T]) unregister(w *Waiter[K, T]) {
	for _, k := range w.keys {
		ws, ok := q.byKey[k]
		if !ok {
			continue // woken: the key left the index then
		}
		for i, x := range ws {
			if x == w {
				ws[i] = ws[len(ws)-1]
				ws[len(ws)-1] = nil
				ws = ws[:len(ws)-1]
				break
			}
		}
		if len(ws) == 0 {
			delete(q.byKey, k)
		} else {
			q.byKey[k] = ws
		}
	}
	w.keys = nil
}

// Rewait makes w wait for keys instead (its deadline stays): a join that
// got one step further and now waits for the next span.
func (q *Waits[K, T]) Rewait(w *Waiter[K, T], keys ...K) {
	q.unregister(w)
	q.register(w, keys)
}

// Keys is the number of distinct keys waited for.
func (q *Waits[K, T]) Keys() int { return len(q.byKey) }

// Waiting reports whether anything waits for k.
func (q *Waits[K, T]) Waiting(k K) bool {
	_, ok := q.byKey[k]
	return ok
}

// Wake returns the waiters waiting for k, appended to dst, and forgets that
// they wait for k. They stay held: the caller removes them (Remove with
// Arrived) or makes them wait for something else (Rewait).
func (q *Waits[K, T]) Wake(k K, dst []*Waiter[K, T]) []*Waiter[K, T] {
	ws, ok := q.byKey[k]
	if !ok {
		return dst
	}
	delete(q.byKey, k)
	return append(dst, ws...)
}

// Oldest returns the waiter held longest (the next to time out), or nil.
func (q *Waits[K, T]) Oldest() *Waiter[K, T] {
	for q.head < len(q.queue) {
		if w := q.queue[q.head]; w.held {
			return w
		}
		q.queue[q.head] = nil
		q.head++
	}
	return nil
}

// Due returns the oldest waiter if its deadline is at or before now (unix
// nanoseconds), else nil.
func (q *Waits[K, T]) Due(now int64) *Waiter[K, T] {
	if w := q.Oldest(); w != nil && w.Deadline <= now {
		return w
	}
	return nil
}

// NextDeadline returns the deadline of the oldest waiter.
func (q *Waits[K, T]) NextDeadline() (int64, bool) {
	if w := q.Oldest(); w != nil {
		return w.Deadline, true
	}
	return 0, false
}

// Remove releases w (a no-op if it was removed already) and counts why.
func (q *Waits[K, T]) Remove(w *Waiter[K, T], why Reason) {
	if !w.held {
		return
	}
	w.held = false
	q.unregister(w)
	q.live--
	q.counts.Released[why]++
	q.compact()
}

// compact bounds the queue by the live count: removed waiters are dropped
// once they outnumber held ones.
func (q *Waits[K, T]) compact() {
	if n := len(q.queue) - q.head; n > 64 && n > 2*q.live {
		j := 0
		for _, w := range q.queue[q.head:] {
			if w != nil && w.held {
				q.queue[j] = w
				j++
			}
		}
		clear(q.queue[j:])
		q.queue = q.queue[:j]
		q.head = 0
	}
}

// AddDropped counts spans dropped after their release.
func (q *Waits[K, T]) AddDropped(n int) { q.counts.Dropped += int64(n) }

// TakeCounts returns the counts since the last call and resets them.
func (q *Waits[K, T]) TakeCounts() Counts {
	c := q.counts
	q.counts = Counts{}
	return c
}
