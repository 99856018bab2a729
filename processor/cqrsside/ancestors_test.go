package cqrsside

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The table itself is tested in internal/ringmap; these tests pin what the
// processor relies on: the TTL edge, duplicates, the empty id.

func cacheID(n uint64) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], n)
	return s
}

func TestAncestorCacheTTL(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := newAncestorCache(10, 30*time.Second)
	assert.Zero(t, c.put(cacheID(1), 2, clock.Now()))
	clock.Advance(20 * time.Second)
	assert.Zero(t, c.put(cacheID(2), 3, clock.Now()))

	clock.Advance(10 * time.Second)
	v, ok := c.get(cacheID(1), clock.Now())
	assert.True(t, ok, "exactly the TTL old: still there")
	assert.Equal(t, uint64(2), v)
	assert.Zero(t, c.expire(clock.Now()))

	clock.Advance(time.Nanosecond)
	_, ok = c.get(cacheID(1), clock.Now())
	assert.False(t, ok, "older than the TTL")
	assert.Equal(t, 1, c.expire(clock.Now()))
	v, ok = c.get(cacheID(2), clock.Now())
	assert.True(t, ok)
	assert.Equal(t, uint64(3), v)

	clock.Advance(time.Hour)
	assert.Equal(t, 1, c.expire(clock.Now()))
	assert.Zero(t, c.expire(clock.Now()))
}

func TestAncestorCacheCapacity(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := newAncestorCache(3, time.Minute)
	evicted := 0
	for i := uint64(1); i <= 5; i++ {
		evicted += c.put(cacheID(i), i, clock.Now())
		clock.Advance(time.Second)
	}
	assert.Equal(t, 2, evicted)
	for i := uint64(1); i <= 5; i++ {
		_, ok := c.get(cacheID(i), clock.Now())
		assert.Equal(t, i > 2, ok, "oldest evicted first: %d", i)
	}
	// A duplicate id updates in place and evicts nothing.
	assert.Zero(t, c.put(cacheID(5), 9, clock.Now()))
	v, _ := c.get(cacheID(5), clock.Now())
	assert.Equal(t, uint64(9), v)
}

func TestAncestorCacheEmptyIDIgnored(t *testing.T) {
	c := newAncestorCache(0, time.Minute) // clamped to 1
	now := time.Now()
	assert.Zero(t, c.put(pcommon.SpanID{}, 1, now))
	_, ok := c.get(pcommon.SpanID{}, now)
	assert.False(t, ok)
}

func TestAncestorCacheDoesNotAllocate(t *testing.T) {
	c := newAncestorCache(1024, time.Minute)
	now := time.Now()
	n := uint64(0)
	for ; n < 4096; n++ {
		c.put(cacheID(n), 1, now)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		c.put(cacheID(n), 1, now)
		c.get(cacheID(n-1), now)
	})
	assert.Zero(t, allocs)
}
