package cache

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func id(n uint64) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], n)
	return s
}

func TestTTL(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := New(10, 30*time.Second)
	assert.Zero(t, c.Put(id(1), 2, clock.Now()))
	clock.Advance(20 * time.Second)
	assert.Zero(t, c.Put(id(2), 3, clock.Now()))

	v, ok := c.Get(id(1), clock.Now())
	assert.True(t, ok)
	assert.Equal(t, uint64(2), v)

	clock.Advance(10*time.Second + time.Nanosecond)
	_, ok = c.Get(id(1), clock.Now())
	assert.False(t, ok, "older than the TTL")
	assert.Equal(t, 1, c.Expire(clock.Now()))
	assert.Equal(t, 1, c.Len())
	v, ok = c.Get(id(2), clock.Now())
	assert.True(t, ok)
	assert.Equal(t, uint64(3), v)

	clock.Advance(time.Hour)
	assert.Equal(t, 1, c.Expire(clock.Now()))
	assert.Zero(t, c.Len())
	assert.Zero(t, c.Expire(clock.Now()))
}

func TestCapacity(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := New(3, time.Minute)
	evicted := 0
	for i := uint64(1); i <= 5; i++ {
		evicted += c.Put(id(i), uint64(i), clock.Now())
		clock.Advance(time.Second)
	}
	assert.Equal(t, 2, evicted)
	assert.Equal(t, 3, c.Len())
	for i := uint64(1); i <= 5; i++ {
		_, ok := c.Get(id(i), clock.Now())
		assert.Equal(t, i > 2, ok, "oldest evicted first: %d", i)
	}
	// A duplicate id updates in place and evicts nothing.
	assert.Zero(t, c.Put(id(5), 9, clock.Now()))
	v, _ := c.Get(id(5), clock.Now())
	assert.Equal(t, uint64(9), v)
	assert.Equal(t, 3, c.Len())
}

func TestEmptyIDIgnored(t *testing.T) {
	c := New(0, time.Minute) // clamped to 1
	now := time.Now()
	assert.Zero(t, c.Put(pcommon.SpanID{}, 1, now))
	_, ok := c.Get(pcommon.SpanID{}, now)
	assert.False(t, ok)
	assert.Zero(t, c.Len())
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	c := New(1024, time.Minute)
	now := time.Now()
	n := uint64(0)
	for ; n < 4096; n++ {
		c.Put(id(n), 1, now)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		c.Put(id(n), 1, now)
		c.Get(id(n-1), now)
	})
	assert.Zero(t, allocs)
}

// TestAgainstModel checks the hash table against a plain map under random
// churn, with keys chosen to collide often.
func TestAgainstModel(t *testing.T) {
	const maxEntries = 37
	c := New(maxEntries, time.Hour)
	now := time.Unix(0, 0)
	var order []uint64
	model := map[uint64]uint64{}
	rnd := uint64(12345)
	next := func() uint64 {
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return rnd
	}
	for step := 0; step < 20000; step++ {
		k := next()%200 + 1
		var sid pcommon.SpanID
		binary.LittleEndian.PutUint64(sid[:], k)
		if next()%2 == 0 {
			v := next()
			if _, ok := model[k]; !ok {
				if len(order) == maxEntries {
					delete(model, order[0])
					order = order[1:]
				}
				order = append(order, k)
			}
			model[k] = v
			c.Put(sid, v, now)
		} else {
			v, ok := c.Get(sid, now)
			mv, mok := model[k]
			if ok != mok || v != mv {
				t.Fatalf("step %d key %d: got (%d,%v) want (%d,%v)", step, k, v, ok, mv, mok)
			}
		}
		if c.Len() != len(model) {
			t.Fatalf("step %d: len %d want %d", step, c.Len(), len(model))
		}
	}
}
