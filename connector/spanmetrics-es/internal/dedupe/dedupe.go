// Package dedupe remembers the spans counted recently, by (trace id, span id),
// so that a batch sent again — a client retrying after a fanout sibling of the
// connector refused it, or a pipeline retry — is not counted twice.
//
// The memory is a bounded table with one TTL for all entries: a span is
// remembered for the window, or until the table is full and it is the oldest
// entry (an eviction, which the caller reports: a retry of that span would be
// counted again).
package dedupe // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/dedupe"

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

// Table is what the window needs from a bounded TTL set; ringmap.Map is one.
// Not safe for concurrent use: Window serialises it.
type Table interface {
	// Add stores the span fingerprint k at now and reports whether it was
	// already stored and whether storing it evicted the oldest live entry.
	Add(k uint64, now time.Time) (dup, evicted bool)
	// Expire removes the entries older than the window.
	Expire(now time.Time)
}

// Window is safe for concurrent use. It is split into shards by id hash,
// each with its own lock, so concurrent batches rarely wait for each other.
//
// A span is remembered by a 64-bit seeded fingerprint of its 24 id bytes,
// not the bytes: a third of the memory, and 8-byte keys compare and probe
// several times faster (ringmap's own benchmarks: ~30 vs ~150 ns per churn).
// Two spans share a fingerprint with probability ~max_entries/2^64 per span
// (1e-14 at the default), and the seed keeps crafted ids from aiming at it.
type Window struct {
	seed   uint64
	mask   uint64 // len(shards) - 1
	shards []shard
}

type shard struct {
	mu sync.Mutex
	t  Table
	_  [40]byte // own cache line: shards are locked by different cores
}

// entriesPerShard keeps small tables in one shard, so max_entries is exact
// where it is small enough to matter.
const (
	entriesPerShard = 4096
	maxShards       = 16
)

// New returns a window remembering at most maxEntries spans (rounded up to a
// multiple of the shard count) for ttl each.
func New(maxEntries int, ttl time.Duration) *Window {
	n := 1
	for n < maxShards && n*2*entriesPerShard <= maxEntries {
		n *= 2
	}
	per := (maxEntries + n - 1) / n
	return NewWithTables(func() Table { return newRingTable(per, ttl) }, n)
}

// NewWithTables returns a window of n shards (a power of two) made by newTable.
func NewWithTables(newTable func() Table, n int) *Window {
	w := &Window{seed: rand.Uint64(), mask: uint64(n - 1), shards: make([]shard, n)}
	for i := range w.shards {
		w.shards[i].t = newTable()
	}
	return w
}

// Seen records the span (trace, span) at now and reports whether it was
// recorded before within the window, and whether recording it evicted an
// entry younger than the window. Spans with an empty trace or span id cannot
// be told apart: they are never seen and never recorded.
func (w *Window) Seen(trace pcommon.TraceID, span pcommon.SpanID, now time.Time) (dup, evicted bool) {
	if trace.IsEmpty() || span.IsEmpty() {
		return false, false
	}
	k := w.fingerprint(trace, span)
	// ringmap indexes by the top 32 bits: the shard takes the low ones, or
	// each shard's keys would crowd into a slice of its index.
	sh := &w.shards[k&w.mask]
	sh.mu.Lock()
	sh.t.Expire(now)
	dup, evicted = sh.t.Add(k, now)
	sh.mu.Unlock()
	return dup, evicted
}

// ringTable adapts ringmap.Map.
type ringTable struct {
	m *ringmap.Map[uint64, struct{}]
}

func newRingTable(maxEntries int, ttl time.Duration) *ringTable {
	// Fingerprints are well mixed already.
	return &ringTable{m: ringmap.New[uint64, struct{}](maxEntries, ttl, func(k uint64) uint64 { return k })}
}

func (r *ringTable) Add(k uint64, now time.Time) (dup, evicted bool) {
	switch r.m.Put(k, struct{}{}, now) {
	case ringmap.Duplicate:
		return true, false
	case ringmap.AddedEvicting:
		return false, true
	}
	return false, false
}

func (r *ringTable) Expire(now time.Time) { r.m.Expire(now) }

// fingerprint chains splitmix64's finalizer over the seed and the three id words.
func (w *Window) fingerprint(trace pcommon.TraceID, span pcommon.SpanID) uint64 {
	h := mix(binary.LittleEndian.Uint64(trace[:8]) ^ w.seed)
	h = mix(h ^ binary.LittleEndian.Uint64(trace[8:]))
	return mix(h ^ binary.LittleEndian.Uint64(span[:]))
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}
