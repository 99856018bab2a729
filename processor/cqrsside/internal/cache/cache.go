// Package cache is the cqrsside ancestor cache: span id -> a 64-bit value (the
// processor packs a side and a process identity into it), bounded in
// size and in age.
//
// It is an open-addressing hash table with linear probing and
// backward-shift deletion (no tombstones), sized at twice the entry limit,
// plus a ring buffer in insertion order. All entries share one TTL, so
// insertion order is also expiry order: the ring head is always the next
// entry to expire or to evict. Nothing allocates after New. A Go map was
// measured first; under constant insert/delete churn at capacity its
// lookups dominated the processor's profile.
package cache // import "github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/cache"

import (
	"encoding/binary"
	"math/bits"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type slot struct {
	key uint64 // 0: empty (the empty span id is never stored)
	at  int64  // unix nanos of insertion
	val uint64
}

type ringEntry struct {
	key uint64
	at  int64
}

// Cache is not safe for concurrent use; the processor serialises access.
type Cache struct {
	ttl   int64
	table []slot
	shift uint // 64 - log2(len(table))
	ring  []ringEntry
	head  int // oldest entry
	n     int // entries
}

// New returns a cache holding at most maxEntries entries for at most ttl.
func New(maxEntries int, ttl time.Duration) *Cache {
	maxEntries = max(maxEntries, 1)
	logSize := bits.Len(uint(2*maxEntries - 1)) // table at most half full
	return &Cache{
		ttl:   int64(ttl),
		table: make([]slot, 1<<logSize),
		shift: uint(64 - logSize),
		ring:  make([]ringEntry, maxEntries),
	}
}

func key(id pcommon.SpanID) uint64 { return binary.LittleEndian.Uint64(id[:]) }

// home is the preferred slot of k (Fibonacci hashing, so that sequential
// ids from some SDKs still spread).
func (c *Cache) home(k uint64) int {
	if c.shift == 64 {
		return 0
	}
	return int((k * 0x9E3779B97F4A7C15) >> c.shift)
}

// find returns the slot index holding k, or the empty slot where it would go.
func (c *Cache) find(k uint64) (int, bool) {
	mask := len(c.table) - 1
	for i := c.home(k); ; i = (i + 1) & mask {
		switch c.table[i].key {
		case k:
			return i, true
		case 0:
			return i, false
		}
	}
}

// remove deletes k by shifting later members of its probe run back, so
// lookups never need tombstones.
func (c *Cache) remove(k uint64) {
	i, ok := c.find(k)
	if !ok {
		return
	}
	mask := len(c.table) - 1
	for j := (i + 1) & mask; c.table[j].key != 0; j = (j + 1) & mask {
		h := c.home(c.table[j].key)
		// Move j into the hole at i unless j's home lies cyclically in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			c.table[i] = c.table[j]
			i = j
		}
	}
	c.table[i] = slot{}
}

// Put records the value for id and returns how many live entries had to be
// evicted to make room (0 or 1). An existing entry keeps its position and
// age: span ids are unique, so a repeat is a duplicate, not a refresh.
func (c *Cache) Put(id pcommon.SpanID, v uint64, now time.Time) (evicted int) {
	k := key(id)
	if k == 0 {
		return 0
	}
	i, ok := c.find(k)
	if ok {
		c.table[i].val = v
		return 0
	}
	if c.n == len(c.ring) {
		c.remove(c.ring[c.head].key)
		c.ring[c.head] = ringEntry{}
		c.head = (c.head + 1) % len(c.ring)
		c.n--
		evicted = 1
		i, _ = c.find(k) // the shift may have moved the hole
	}
	at := now.UnixNano()
	c.table[i] = slot{key: k, at: at, val: v}
	c.ring[(c.head+c.n)%len(c.ring)] = ringEntry{key: k, at: at}
	c.n++
	return evicted
}

// Get returns the value for id if present and not older than the TTL.
func (c *Cache) Get(id pcommon.SpanID, now time.Time) (uint64, bool) {
	k := key(id)
	if k == 0 {
		return 0, false
	}
	i, ok := c.find(k)
	if !ok || now.UnixNano()-c.table[i].at > c.ttl {
		return 0, false
	}
	return c.table[i].val, true
}

// Expire removes entries older than the TTL and returns how many it removed.
func (c *Cache) Expire(now time.Time) (expired int) {
	limit := now.UnixNano() - c.ttl
	for c.n > 0 {
		e := c.ring[c.head]
		if e.at >= limit {
			break
		}
		c.remove(e.key)
		c.ring[c.head] = ringEntry{}
		c.head = (c.head + 1) % len(c.ring)
		c.n--
		expired++
	}
	return expired
}

// Len returns the number of entries, expired ones not yet removed included.
func (c *Cache) Len() int { return c.n }
