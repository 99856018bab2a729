// Package store is projectionlag's bounded join store: it remembers the
// write-side spans a projection span may link to (and the projection-side
// spans that relay an event from a publish span to an apply span), keyed by
// (trace id, span id), for a TTL.
//
// Memory is fixed by the size limit and allocated up front: entries live in a
// ring in insertion order, so the oldest entry is both the first to expire and
// the one evicted when the store is full, and no operation allocates.
package store

import (
	"hash/maphash"
	"math/bits"
	"time"
)

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
	key      Key
	entry    Entry
	inserted int64 // unix nanoseconds, for the TTL
}

// bucket is one cell of the open-addressing index: the ring position of an
// entry plus one and the low 32 bits of its key's hash (its home bucket, and
// a filter that spares most key comparisons). pos 0 is an empty cell.
type bucket struct {
	pos  int32
	hash uint32
}

// Store is not safe for concurrent use; the processor serialises access.
//
// It is a ring of entries in insertion order plus an open-addressing index
// (linear probing, at most half full, backward-shift deletion). Every entry
// is deleted in FIFO order, which leaves a Go map full of tombstones that
// lengthen every probe; here a deletion closes its gap, so probes stay short
// however long the store runs.
type Store struct {
	ttl   time.Duration
	seed  maphash.Seed
	ring  []slot
	index []bucket
	mask  uint32
	head  int // oldest
	count int
}

// New returns a store holding at most size entries for ttl each.
func New(size int, ttl time.Duration) *Store {
	size = min(max(size, 1), maxSize)
	buckets := uint32(1) << bits.Len32(uint32(2*size-1))
	return &Store{ttl: ttl, seed: maphash.MakeSeed(), ring: make([]slot, size), index: make([]bucket, buckets), mask: buckets - 1}
}

// maxSize keeps ring positions and bucket counts within 32 bits.
const maxSize = 1 << 30

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

func (s *Store) hash(k *Key) uint32 { return uint32(maphash.Comparable(s.seed, *k)) }

// find returns the bucket holding k, or the empty bucket ending its probe.
func (s *Store) find(k *Key, h uint32) (uint32, bool) {
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		b := s.index[i]
		if b.pos == 0 {
			return i, false
		}
		if b.hash == h && s.ring[b.pos-1].key == *k {
			return i, true
		}
	}
}

// Put stores e under k at time now.
func (s *Store) Put(k Key, e Entry, now time.Time) Result {
	h := s.hash(&k)
	if _, ok := s.find(&k, h); ok {
		return Duplicate
	}
	res := Added
	if s.count == len(s.ring) {
		s.popOldest()
		res = AddedEvicting
	}
	// Looked up again: the eviction may have shifted the probe sequence.
	i, _ := s.find(&k, h)
	pos := (s.head + s.count) % len(s.ring)
	s.ring[pos] = slot{key: k, entry: e, inserted: now.UnixNano()}
	s.index[i] = bucket{pos: int32(pos + 1), hash: h}
	s.count++
	return res
}

// Get returns the entry stored under k.
func (s *Store) Get(k Key) (Entry, bool) {
	i, ok := s.find(&k, s.hash(&k))
	if !ok {
		return Entry{}, false
	}
	return s.ring[s.index[i].pos-1].entry, true
}

// Expire removes entries older than the TTL and returns how many.
func (s *Store) Expire(now time.Time) int {
	cutoff := now.Add(-s.ttl).UnixNano()
	n := 0
	for s.count > 0 && s.ring[s.head].inserted <= cutoff {
		s.popOldest()
		n++
	}
	return n
}

func (s *Store) popOldest() {
	k := &s.ring[s.head].key
	if i, ok := s.find(k, s.hash(k)); ok {
		s.deleteBucket(i)
	}
	s.ring[s.head] = slot{}
	s.head = (s.head + 1) % len(s.ring)
	s.count--
}

// deleteBucket empties bucket i and shifts later entries of its probe run
// back into the gap, so no lookup ever has to step over a deleted cell.
func (s *Store) deleteBucket(i uint32) {
	for j := (i + 1) & s.mask; ; j = (j + 1) & s.mask {
		b := s.index[j]
		if b.pos == 0 {
			break
		}
		// b may fill the gap at i unless its home lies cyclically in (i, j].
		if (j-b.hash)&s.mask >= (j-i)&s.mask {
			s.index[i] = b
			i = j
		}
	}
	s.index[i] = bucket{}
}

// Len is the number of stored entries.
func (s *Store) Len() int { return s.count }

// Cap is the size limit.
func (s *Store) Cap() int { return len(s.ring) }
