// Package store is projectionlag's bounded join store: it remembers the
// write-side spans a projection span may link to (and the projection-side
// spans that relay an event from a publish span to an apply span), keyed by
// (trace id, span id), for a TTL.
//
// Memory is fixed by the size limit: entries live in a ring in insertion
// order, so the oldest entry is both the first to expire and the one evicted
// when the store is full, and no operation allocates once the map has grown.
package store

import "time"

// Key identifies a span: trace id followed by span id.
type Key [24]byte

// NewKey builds a Key from a trace id and a span id.
func NewKey(traceID [16]byte, spanID [8]byte) Key {
	var k Key
	copy(k[:16], traceID[:])
	copy(k[16:], spanID[:])
	return k
}

// WithSpan returns the key of another span in the same trace.
func (k Key) WithSpan(spanID [8]byte) Key {
	copy(k[16:], spanID[:])
	return k
}

// SpanIsEmpty reports whether the span id part is all zero (no parent).
func (k Key) SpanIsEmpty() bool {
	for _, b := range k[16:] {
		if b != 0 {
			return false
		}
	}
	return true
}

// Kind tells producers from relays.
type Kind uint8

const (
	// Producer is a write-side span: lag is measured from its end.
	Producer Kind = iota + 1
	// Relay is a projection-side span (consume, dispatch, handle) that sits
	// between a publish span and the apply span; the walk continues at its parent.
	Relay
	// DeadEnd is a span something waited on that turned out to be neither:
	// the walk stops there.
	DeadEnd
)

// Entry is what the store keeps per span: ids and times only.
type Entry struct {
	Parent [8]byte
	// Start and End are unix nanoseconds.
	Start, End int64
	// Command is an interned command type (0: the span is not a command span).
	Command uint32
	Kind    Kind
}

type slot struct {
	entry    Entry
	inserted int64 // unix nanoseconds, for the TTL
}

// Store is not safe for concurrent use; the processor serialises access.
type Store struct {
	ttl   time.Duration
	m     map[Key]slot
	ring  []Key
	head  int // oldest
	count int
}

// New returns a store holding at most size entries for ttl each.
func New(size int, ttl time.Duration) *Store {
	if size < 1 {
		size = 1
	}
	return &Store{ttl: ttl, m: make(map[Key]slot), ring: make([]Key, size)}
}

// Result of a Put.
type Result uint8

const (
	// Added means the entry was stored.
	Added Result = iota
	// AddedEvicting means the entry was stored and the oldest entry evicted to make room.
	AddedEvicting
	// Duplicate means the key was already stored; the first entry is kept.
	Duplicate
)

// Put stores e under k at time now.
func (s *Store) Put(k Key, e Entry, now time.Time) Result {
	if _, ok := s.m[k]; ok {
		return Duplicate
	}
	res := Added
	if s.count == len(s.ring) {
		s.popOldest()
		res = AddedEvicting
	}
	pos := (s.head + s.count) % len(s.ring)
	s.ring[pos] = k
	s.count++
	s.m[k] = slot{entry: e, inserted: now.UnixNano()}
	return res
}

// Get returns the entry stored under k.
func (s *Store) Get(k Key) (Entry, bool) {
	sl, ok := s.m[k]
	return sl.entry, ok
}

// Expire removes entries older than the TTL and returns how many.
func (s *Store) Expire(now time.Time) int {
	cutoff := now.Add(-s.ttl).UnixNano()
	n := 0
	for s.count > 0 {
		sl := s.m[s.ring[s.head]]
		if sl.inserted > cutoff {
			break
		}
		s.popOldest()
		n++
	}
	return n
}

func (s *Store) popOldest() {
	k := s.ring[s.head]
	delete(s.m, k)
	s.ring[s.head] = Key{}
	s.head = (s.head + 1) % len(s.ring)
	s.count--
}

// Len is the number of stored entries.
func (s *Store) Len() int { return s.count }

// Cap is the size limit.
func (s *Store) Cap() int { return len(s.ring) }
