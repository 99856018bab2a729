package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"encoding/binary"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

// ancestorCache remembers span id -> a 64-bit value (packCached: a side and
// a process identity), bounded in size and in age. A Go map was measured
// first; under constant insert/delete churn at capacity its lookups
// dominated the processor's profile, hence ringmap.
type ancestorCache struct {
	m *ringmap.Map[pcommon.SpanID, uint64]
}

func newAncestorCache(maxEntries int, ttl time.Duration) ancestorCache {
	// The cache has always kept an entry through its whole TTL and dropped it
	// only once older; ringmap drops it at exactly the TTL, one nanosecond
	// earlier.
	if ttl < math.MaxInt64 {
		ttl++
	}
	return ancestorCache{m: ringmap.New[pcommon.SpanID, uint64](maxEntries, ttl, hashSpanID)}
}

// hashSpanID is Fibonacci hashing of the id's bytes: ringmap indexes with
// the top bits, which this spreads even for ids that differ in one byte only
// (sequential ids from some SDKs).
func hashSpanID(id pcommon.SpanID) uint64 {
	return binary.LittleEndian.Uint64(id[:]) * 0x9E3779B97F4A7C15
}

// put records the value for id and returns how many live entries were
// evicted to make room (0 or 1). An existing entry keeps its place and age:
// span ids are unique, so a repeat is a duplicate, not a refresh; its value
// is replaced.
func (c ancestorCache) put(id pcommon.SpanID, v uint64, now time.Time) int {
	if id.IsEmpty() {
		return 0
	}
	if c.m.Set(id, v, now) == ringmap.AddedEvicting {
		return 1
	}
	return 0
}

// get returns the value for id if present and not older than the TTL.
func (c ancestorCache) get(id pcommon.SpanID, now time.Time) (uint64, bool) {
	if id.IsEmpty() {
		return 0, false
	}
	return c.m.Lookup(id, now)
}

// expire removes entries older than the TTL and returns how many.
func (c ancestorCache) expire(now time.Time) int { return c.m.Expire(now) }
