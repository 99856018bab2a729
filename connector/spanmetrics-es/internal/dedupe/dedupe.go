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
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

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
	sink   atomic.Uint32
}

type shard struct {
	mu sync.Mutex
	t  *ringmap.Map[uint64, struct{}]
	_  [48]byte // own cache line: shards are locked by different cores
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
	w := &Window{seed: rand.Uint64(), mask: uint64(n - 1), shards: make([]shard, n)}
	for i := range w.shards {
		// Fingerprints are well mixed already.
		w.shards[i].t = ringmap.New[uint64, struct{}](per, ttl, func(k uint64) uint64 { return k })
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
	dup, evicted = add(sh.t, k, now)
	sh.mu.Unlock()
	return dup, evicted
}

func add(t *ringmap.Map[uint64, struct{}], k uint64, now time.Time) (dup, evicted bool) {
	switch t.Put(k, struct{}{}, now) {
	case ringmap.Duplicate:
		return true, false
	case ringmap.AddedEvicting:
		return false, true
	}
	return false, false
}

// Ref names a span to SeenAll.
type Ref struct {
	Trace pcommon.TraceID
	Span  pcommon.SpanID
}

// Scratch is SeenAll's working space, reused by one caller at a time.
type Scratch struct {
	keys  []uint64
	order []int32 // indexes of refs, grouped by shard
	start [maxShards + 1]int32
}

// touchAhead is how many keys ahead SeenAll touches a key's home bucket: far
// enough for the miss to be served by the time the key is stored.
const touchAhead = 8

// SeenAll is Seen for a batch of spans, in one call: it locks each shard once,
// expires it once, and stores the shard's keys back to back, touching the
// index a few keys ahead so the cache misses of independent probes overlap
// (a probe into a table larger than the cache is what a span's check costs).
// dup[i] tells whether refs[i] was seen before (len(dup) >= len(refs)); it
// returns how many were, and how many entries were evicted. Spans in one batch
// with the same ids are duplicates of the first, as with Seen.
func (w *Window) SeenAll(sc *Scratch, refs []Ref, now time.Time, dup []bool) (dups, evicted int) {
	sc.keys = sc.keys[:0]
	clear(sc.start[:])
	for i := range refs {
		r := &refs[i]
		dup[i] = false
		var k uint64
		if !r.Trace.IsEmpty() && !r.Span.IsEmpty() {
			k = w.fingerprint(r.Trace, r.Span)
			sc.start[k&w.mask+1]++
		}
		sc.keys = append(sc.keys, k)
	}
	// Counting sort of the indexes by shard; a span without ids is never recorded.
	for s := 1; s <= len(w.shards); s++ {
		sc.start[s] += sc.start[s-1]
	}
	next := sc.start
	if n := int(sc.start[len(w.shards)]); cap(sc.order) < n {
		sc.order = make([]int32, n)
	} else {
		sc.order = sc.order[:n]
	}
	for i := range refs {
		if r := &refs[i]; !r.Trace.IsEmpty() && !r.Span.IsEmpty() {
			sh := sc.keys[i] & w.mask
			sc.order[next[sh]] = int32(i)
			next[sh]++
		}
	}
	var sink uint32
	for s := range w.shards {
		idx := sc.order[sc.start[s]:sc.start[s+1]]
		if len(idx) == 0 {
			continue
		}
		sh := &w.shards[s]
		sh.mu.Lock()
		sh.t.Expire(now)
		for j := 0; j < len(idx) && j < touchAhead; j++ {
			sink += sh.t.Touch(sc.keys[idx[j]])
		}
		for j, i := range idx {
			if j+touchAhead < len(idx) {
				sink += sh.t.Touch(sc.keys[idx[j+touchAhead]])
			}
			d, e := add(sh.t, sc.keys[i], now)
			if d {
				dup[i] = true
				dups++
			}
			if e {
				evicted++
			}
		}
		sh.mu.Unlock()
	}
	w.sink.Add(sink) // keeps the touches from being optimised away
	return dups, evicted
}

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
