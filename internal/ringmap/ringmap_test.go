package ringmap

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1000, 0)

func TestPutKeepsFirstSetReplaces(t *testing.T) {
	m := New[uint64, string](4, time.Minute, nil)
	require.Equal(t, Added, m.Put(1, "a", t0))
	require.Equal(t, Duplicate, m.Put(1, "b", t0))
	v, ok := m.Get(1)
	require.True(t, ok)
	assert.Equal(t, "a", v, "Put keeps the first value")
	require.Equal(t, Duplicate, m.Set(1, "c", t0.Add(30*time.Second)))
	v, _ = m.Get(1)
	assert.Equal(t, "c", v, "Set replaces it")
	assert.Equal(t, 1, m.Expire(t0.Add(time.Minute)), "a replaced entry keeps its age")
	_, ok = m.Get(2)
	assert.False(t, ok)
}

func TestFullMapEvictsOldest(t *testing.T) {
	m := New[uint64, int](3, time.Minute, nil)
	for i := range uint64(3) {
		require.Equal(t, Added, m.Put(i, int(i), t0))
	}
	require.Equal(t, AddedEvicting, m.Put(3, 3, t0))
	_, ok := m.Get(0)
	assert.False(t, ok, "oldest evicted")
	assert.Equal(t, 3, m.Len())
	assert.Equal(t, Stats{Evicted: 1}, m.Stats())
}

// TestExpireEdge pins the TTL edge: an entry inserted at t is gone at t+ttl.
// OnRemove sees what leaves by age or to make room, with its value, and not what Delete removes.
func TestOnRemove(t *testing.T) {
	m := New[uint64, string](2, time.Minute, nil)
	type left struct {
		k       uint64
		v       string
		expired bool
	}
	var got []left
	m.OnRemove(func(k *uint64, v *string, expired bool) { got = append(got, left{*k, *v, expired}) })
	m.Put(1, "a", t0)
	m.Put(2, "b", t0.Add(time.Second))
	m.Put(3, "c", t0.Add(2*time.Second)) // evicts 1
	m.Delete(2)
	m.Expire(t0.Add(2*time.Second + time.Minute)) // expires 3
	assert.Equal(t, []left{{1, "a", false}, {3, "c", true}}, got)
}

func TestExpireEdge(t *testing.T) {
	m := New[uint64, int](10, time.Minute, nil)
	m.Put(1, 1, t0)
	m.Put(2, 2, t0.Add(30*time.Second))
	next, ok := m.NextExpiry()
	assert.True(t, ok)
	assert.True(t, next.Equal(t0.Add(time.Minute)))
	assert.Equal(t, 0, m.Expire(t0.Add(time.Minute-1)))
	assert.Equal(t, 1, m.Expire(t0.Add(time.Minute)))
	next, _ = m.NextExpiry()
	assert.True(t, next.Equal(t0.Add(90*time.Second)))
	assert.Equal(t, 1, m.Len())
	assert.Equal(t, 1, m.Expire(t0.Add(2*time.Minute)))
	assert.Equal(t, 0, m.Expire(t0.Add(3*time.Minute)), "empty map")
	_, ok = m.NextExpiry()
	assert.False(t, ok)
	assert.Equal(t, Stats{Expired: 2}, m.Stats())
}

func TestLookupEdge(t *testing.T) {
	m := New[uint64, int](10, time.Minute, nil)
	m.Put(1, 1, t0)
	_, ok := m.Lookup(1, t0.Add(time.Minute-1))
	assert.True(t, ok)
	_, ok = m.Lookup(1, t0.Add(time.Minute))
	assert.False(t, ok, "expired, though Expire has not run")
	_, ok = m.Get(1)
	assert.True(t, ok, "Get does not look at the age")
}

func TestNoTTL(t *testing.T) {
	m := New[uint64, int](2, 0, nil)
	m.Put(1, 1, t0)
	_, ok := m.NextExpiry()
	assert.False(t, ok)
	assert.Equal(t, 0, m.Expire(t0.Add(1000*time.Hour)))
	assert.Equal(t, 1, m.Len())
}

func TestDeleteReclaimsSlotAtHead(t *testing.T) {
	m := New[uint64, int](3, time.Minute, nil)
	m.Put(1, 1, t0)
	m.Put(2, 2, t0)
	m.Put(3, 3, t0)
	assert.True(t, m.Delete(2))
	assert.False(t, m.Delete(2))
	// Slot of 2 is still behind 1: the ring is full, so 1 is evicted.
	assert.Equal(t, AddedEvicting, m.Put(4, 4, t0))
	// 1 went, and 2's slot with it: room for one more without evicting.
	assert.Equal(t, Added, m.Put(5, 5, t0))
	assert.Equal(t, 3, m.Len())
	assert.True(t, m.Delete(3))
	assert.Equal(t, Added, m.Put(6, 6, t0), "a deleted head slot is reclaimed at once")
}

func TestSizeClamped(t *testing.T) {
	m := New[uint64, int](0, time.Minute, nil)
	assert.Equal(t, 1, m.Cap())
	m.Put(1, 1, t0)
	assert.Equal(t, AddedEvicting, m.Put(2, 2, t0))
	v, ok := m.Get(2)
	assert.True(t, ok)
	assert.Equal(t, 2, v)
}

func TestNoAllocations(t *testing.T) {
	m := New[[24]byte, [5]int64](1024, time.Second, nil)
	var k [24]byte
	i := uint64(0)
	now := t0
	allocs := testing.AllocsPerRun(10_000, func() {
		i++
		binary.LittleEndian.PutUint64(k[16:], i)
		now = now.Add(time.Millisecond)
		m.Expire(now)
		m.Put(k, [5]int64{int64(i)}, now)
		m.Get(k)
		if i%3 == 0 {
			m.Delete(k)
		}
	})
	assert.Zero(t, allocs)
}

// modelMap is what a Map must behave like: a Go map plus the ring of
// insertion order, deleted entries keeping their slot until they are oldest.
type modelMap struct {
	size  int
	ttl   int64
	vals  map[uint16]int
	slots []*modelSlot
	byKey map[uint16]*modelSlot
}

type modelSlot struct {
	key  uint16
	at   int64
	live bool
}

func (m *modelMap) trim() {
	for len(m.slots) > 0 && !m.slots[0].live {
		m.slots = m.slots[1:]
	}
}

func (m *modelMap) popHead() {
	s := m.slots[0]
	delete(m.vals, s.key)
	delete(m.byKey, s.key)
	m.slots = m.slots[1:]
	m.trim()
}

func (m *modelMap) put(k uint16, v int, now int64, replace bool) Result {
	if _, ok := m.vals[k]; ok {
		if replace {
			m.vals[k] = v
		}
		return Duplicate
	}
	res := Added
	if len(m.slots) == m.size {
		m.popHead()
		res = AddedEvicting
	}
	s := &modelSlot{key: k, at: now, live: true}
	m.slots = append(m.slots, s)
	m.byKey[k] = s
	m.vals[k] = v
	return res
}

func (m *modelMap) del(k uint16) bool {
	s, ok := m.byKey[k]
	if !ok {
		return false
	}
	s.live = false
	delete(m.vals, k)
	delete(m.byKey, k)
	m.trim()
	return true
}

func (m *modelMap) expire(now int64) int {
	n := 0
	for len(m.slots) > 0 && m.slots[0].at <= now-m.ttl {
		m.popHead()
		n++
	}
	return n
}

// TestAgainstModel drives a Map and the model with the same random
// operations on a small key alphabet (many duplicates) and a fake clock, with
// a good hash and with one that collides constantly (long probe runs, so
// backward shifts wrap around the index).
func TestAgainstModel(t *testing.T) {
	hashes := map[string]func(uint16) uint64{
		"maphash":   nil,
		"colliding": func(k uint16) uint64 { return uint64(k%5) << 61 },
	}
	for name, hash := range hashes {
		for _, size := range []int{1, 2, 3, 7, 64, 1000} {
			rng := rand.New(rand.NewPCG(uint64(size), uint64(len(name))))
			ttl := 100 * time.Millisecond
			m := New[uint16, int](size, ttl, hash)
			model := &modelMap{size: size, ttl: int64(ttl), vals: map[uint16]int{}, byKey: map[uint16]*modelSlot{}}
			now := t0
			alphabet := 2*size + 3
			for i := range 60_000 {
				k := uint16(rng.IntN(alphabet))
				switch op := rng.IntN(100); {
				case op < 40:
					require.Equal(t, model.put(k, i, now.UnixNano(), false), m.Put(k, i, now), "%s size %d op %d put", name, size, i)
				case op < 50:
					require.Equal(t, model.put(k, i, now.UnixNano(), true), m.Set(k, i, now), "%s size %d op %d set", name, size, i)
				case op < 60:
					require.Equal(t, model.del(k), m.Delete(k), "%s size %d op %d delete", name, size, i)
				case op < 70:
					now = now.Add(time.Duration(rng.IntN(int(ttl / 8))))
					require.Equal(t, model.expire(now.UnixNano()), m.Expire(now), "%s size %d op %d expire", name, size, i)
				case op < 75:
					_, wok := model.vals[k]
					if wok && model.byKey[k].at <= now.UnixNano()-model.ttl {
						wok = false
					}
					_, ok := m.Lookup(k, now)
					require.Equal(t, wok, ok, "%s size %d op %d lookup", name, size, i)
				default:
					want, wok := model.vals[k]
					got, ok := m.Get(k)
					require.Equal(t, wok, ok, "%s size %d op %d get", name, size, i)
					require.Equal(t, want, got, "%s size %d op %d get", name, size, i)
				}
				require.Equal(t, len(model.vals), m.Len())
				if i%499 == 0 {
					for k, v := range model.vals {
						got, ok := m.Get(k)
						require.True(t, ok, "%s size %d op %d: key %d lost", name, size, i, k)
						require.Equal(t, v, got)
					}
					require.Equal(t, len(model.vals), m.indexed(), "%s size %d op %d: index out of step", name, size, i)
				}
			}
		}
	}
}

// indexed counts the occupied index buckets.
func (m *Map[K, V]) indexed() int {
	n := 0
	for _, b := range m.index {
		if b.pos != 0 {
			n++
		}
	}
	return n
}

// TestMillionPutsStayBounded asserts the size limit, not a timing.
func TestMillionPutsStayBounded(t *testing.T) {
	const limit = 10_000
	m := New[uint64, struct{}](limit, time.Hour, nil)
	evicted := 0
	for i := range uint64(1_000_000) {
		if m.Put(i, struct{}{}, t0) == AddedEvicting {
			evicted++
		}
	}
	assert.Equal(t, limit, m.Len())
	assert.Equal(t, 1_000_000-limit, evicted)
	assert.Equal(t, uint64(evicted), m.Stats().Evicted)
}
