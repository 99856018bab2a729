// Package ringmap is a bounded hash table whose entries live for a TTL: the
// join and ancestor tables of the processors and the connector's dedupe
// window.
//
// Entries live in a ring in insertion order, so the oldest entry is both the
// next to expire (one TTL for all) and the one evicted when the table is
// full. Lookups go through an open-addressing index (linear probing, at most
// half full) with backward-shift deletion: the constant FIFO deletions of a
// full table would leave a Go map full of tombstones that lengthen every
// probe; here each deletion closes its gap, so probes stay short however long
// the table runs. Memory is allocated once, in New; no operation allocates.
// Large tables of pointer-free entries live outside the Go heap (alloc.go).
//
// The table keeps no clock: every call that needs the time takes it as an
// argument, so callers (and tests) decide what "now" is.
package ringmap // import "github.com/otelcol-es/otelcol-es/internal/ringmap"

import (
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"time"
)

// MaxSize is the largest size limit: ring positions and bucket numbers stay
// within 32 bits.
const MaxSize = 1 << 30

// Result tells what a Put or Set did.
type Result uint8

const (
	// Added means the entry was stored.
	Added Result = iota
	// AddedEvicting means the entry was stored and the oldest live entry
	// evicted to make room.
	AddedEvicting
	// Duplicate means the key was already stored. Put keeps the stored
	// value; Set replaced it. Either way the entry keeps its age and place.
	Duplicate
)

// Stats are running totals since New.
type Stats struct {
	// Evicted counts live entries dropped to make room for a new one.
	Evicted uint64
	// Expired counts entries removed by Expire.
	Expired uint64
}

type slot[K comparable, V any] struct {
	key K
	val V
	// at is the insertion time in unix nanoseconds, or deleted for a slot
	// whose entry was deleted before it became the oldest (the slot is
	// reclaimed then). A sentinel rather than a flag keeps slots small.
	at int64
}

// deleted marks a deleted slot; no time a caller passes is that far back.
const deleted = math.MinInt64

// bucket is one cell of the index: the ring position of an entry plus one
// (0: empty cell) and the top 32 bits of its key's hash, which give its home
// bucket and filter out most key comparisons.
type bucket struct {
	pos  int32
	hash uint32
}

// Map is not safe for concurrent use; callers serialise access.
type Map[K comparable, V any] struct {
	hash  func(K) uint64 // nil: maphash.Comparable with seed
	seed  maphash.Seed
	ttl   int64 // <= 0: entries never expire
	ring  []slot[K, V]
	index []bucket
	mask  uint32
	shift uint32 // 32 - log2(len(index)); home = hash >> shift
	head  int    // oldest slot
	used  int    // ring slots in use, deleted ones not yet reclaimed included
	live  int
	stats Stats
	// removed, when set, sees each entry Expire removes or a Put evicts.
	removed func(k *K, v *V, expired bool)
}

// New returns a table holding at most size entries (clamped to [1, MaxSize]),
// each for ttl: an entry inserted at t is expired by Expire(t+ttl). A ttl <= 0
// keeps entries until they are evicted.
//
// hash hashes keys; all 64 bits should be well mixed, or at least the top 32
// (the index uses those). nil hashes with hash/maphash.Comparable and a
// random seed.
func New[K comparable, V any](size int, ttl time.Duration, hash func(K) uint64) *Map[K, V] {
	size = min(max(size, 1), MaxSize)
	logSize := bits.Len32(uint32(2*size - 1)) // index at most half full
	ring, freeRing := makeSlice[slot[K, V]](size)
	index, freeIndex := makeSlice[bucket](1 << logSize)
	m := &Map[K, V]{
		hash:  hash,
		seed:  maphash.MakeSeed(),
		ttl:   int64(ttl),
		ring:  ring,
		index: index,
		mask:  1<<logSize - 1,
		shift: uint32(32 - logSize),
	}
	if freeRing != nil || freeIndex != nil {
		// Memory outside the heap is given back once the table is unreachable.
		runtime.AddCleanup(m, func(free [2]func()) {
			for _, f := range free {
				if f != nil {
					f()
				}
			}
		}, [2]func(){freeRing, freeIndex})
	}
	return m
}

func (m *Map[K, V]) hashOf(k *K) uint32 {
	if m.hash != nil {
		return uint32(m.hash(*k) >> 32)
	}
	return uint32(maphash.Comparable(m.seed, *k) >> 32)
}

// Touch reads k's home bucket and returns a value of no meaning: called a few
// keys ahead of Put in a loop over many keys, it starts the cache miss of a
// later probe while earlier ones run, as a prefetch would.
func (m *Map[K, V]) Touch(k K) uint32 {
	return uint32(m.index[m.hashOf(&k)>>m.shift].pos)
}

// find returns the bucket holding k, or the empty bucket ending its probe run.
func (m *Map[K, V]) find(k *K, h uint32) (uint32, bool) {
	// A shift of 32 (one bucket) yields home 0.
	for i := h >> m.shift; ; i = (i + 1) & m.mask {
		b := m.index[i]
		if b.pos == 0 {
			return i, false
		}
		if b.hash == h && m.ring[b.pos-1].key == *k {
			return i, true
		}
	}
}

// OnRemove makes fn see each entry that leaves the table by age (Expire:
// expired is true) or to make room (a Put into a full table: false), before
// it is gone; not those removed by Delete. A table of pending joins uses it to
// count, by reason, what left unpaired. fn must not call back into the table.
func (m *Map[K, V]) OnRemove(fn func(k *K, v *V, expired bool)) { m.removed = fn }

// Put stores v under k, inserted at now. A key already stored keeps its
// value: Put returns Duplicate.
func (m *Map[K, V]) Put(k K, v V, now time.Time) Result {
	return m.put(&k, &v, now, false)
}

// Set is Put that replaces the value of a key already stored (the entry
// keeps its insertion time and place, so a refresh does not extend its life).
func (m *Map[K, V]) Set(k K, v V, now time.Time) Result {
	return m.put(&k, &v, now, true)
}

func (m *Map[K, V]) put(k *K, v *V, now time.Time, replace bool) Result {
	h := m.hashOf(k)
	if i, ok := m.find(k, h); ok {
		if replace {
			m.ring[m.index[i].pos-1].val = *v
		}
		return Duplicate
	}
	res := Added
	if m.used == len(m.ring) {
		m.popHead(false)
		res = AddedEvicting
		m.stats.Evicted++
	}
	// Looked up again: the deletion may have shifted k's probe run.
	i, _ := m.find(k, h)
	pos := m.head + m.used
	if pos >= len(m.ring) {
		pos -= len(m.ring)
	}
	m.ring[pos] = slot[K, V]{key: *k, val: *v, at: now.UnixNano()}
	m.index[i] = bucket{pos: int32(pos + 1), hash: h}
	m.used++
	m.live++
	return res
}

// Get returns the value stored under k. It does not look at the entry's age:
// call Expire first when expired entries must not be seen.
func (m *Map[K, V]) Get(k K) (V, bool) {
	i, ok := m.find(&k, m.hashOf(&k))
	if !ok {
		var zero V
		return zero, false
	}
	return m.ring[m.index[i].pos-1].val, true
}

// Lookup is Get that also treats an entry as absent once it is expired at
// now (inserted at or before now minus the TTL), whether or not Expire has
// removed it yet: a clock that steps back can leave expired entries behind
// younger ones in the ring.
func (m *Map[K, V]) Lookup(k K, now time.Time) (V, bool) {
	i, ok := m.find(&k, m.hashOf(&k))
	if ok {
		s := &m.ring[m.index[i].pos-1]
		if m.ttl <= 0 || now.UnixNano()-s.at < m.ttl {
			return s.val, true
		}
	}
	var zero V
	return zero, false
}

// Delete removes k and reports whether it was stored. Its ring slot is
// reclaimed when every older entry is gone, so until then it still takes one
// place in the size limit: a Put into a full ring may evict the oldest live
// entry although Len is below Cap.
func (m *Map[K, V]) Delete(k K) bool {
	i, ok := m.find(&k, m.hashOf(&k))
	if !ok {
		return false
	}
	pos := m.index[i].pos - 1
	m.deleteBucket(i)
	m.ring[pos] = slot[K, V]{at: deleted}
	m.live--
	if int(pos) == m.head {
		m.advance()
	}
	return true
}

// Expire removes the entries inserted at or before now minus the TTL and
// returns how many it removed.
func (m *Map[K, V]) Expire(now time.Time) int {
	if m.ttl <= 0 {
		return 0
	}
	cutoff := now.UnixNano() - m.ttl
	n := 0
	for m.used > 0 && m.ring[m.head].at <= cutoff {
		m.popHead(true)
		n++
	}
	m.stats.Expired += uint64(n)
	return n
}

// NextExpiry returns when the oldest entry expires (Expire at that time
// removes it). ok is false when the table is empty or has no TTL.
func (m *Map[K, V]) NextExpiry() (at time.Time, ok bool) {
	if m.used == 0 || m.ttl <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, m.ring[m.head].at+m.ttl), true
}

// popHead removes the oldest entry. The head slot is always live (advance
// reclaims deleted slots as they reach it).
func (m *Map[K, V]) popHead(expired bool) {
	s := &m.ring[m.head]
	if m.removed != nil {
		m.removed(&s.key, &s.val, expired)
	}
	if i, ok := m.find(&s.key, m.hashOf(&s.key)); ok {
		m.deleteBucket(i)
	}
	m.live--
	m.advance()
}

// advance frees the head slot and the deleted slots behind it.
func (m *Map[K, V]) advance() {
	for {
		m.ring[m.head] = slot[K, V]{}
		m.head++
		if m.head == len(m.ring) {
			m.head = 0
		}
		m.used--
		if m.used == 0 || m.ring[m.head].at != deleted {
			return
		}
	}
}

// deleteBucket empties bucket i and shifts later members of its probe run
// back into the gap, so no lookup ever steps over a deleted cell.
func (m *Map[K, V]) deleteBucket(i uint32) {
	for j := (i + 1) & m.mask; ; j = (j + 1) & m.mask {
		b := m.index[j]
		if b.pos == 0 {
			break
		}
		// b may fill the gap at i unless its home lies cyclically in (i, j].
		home := b.hash >> m.shift
		if (j-home)&m.mask >= (j-i)&m.mask {
			m.index[i] = b
			i = j
		}
	}
	m.index[i] = bucket{}
}

// Len is the number of entries stored, expired ones not yet removed included.
func (m *Map[K, V]) Len() int { return m.live }

// Cap is the size limit.
func (m *Map[K, V]) Cap() int { return len(m.ring) }

// Stats returns the running totals.
func (m *Map[K, V]) Stats() Stats { return m.stats }
