package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func key(i uint64) Key {
	var tid [16]byte
	var sid [8]byte
	for b := 0; b < 8; b++ {
		tid[b] = byte(i >> (8 * b))
		sid[b] = byte(i >> (8 * b))
	}
	sid[7] |= 0x80 // never the zero span id
	return NewKey(tid, sid)
}

func TestPutGetDuplicate(t *testing.T) {
	s := New(4, time.Minute)
	now := time.Unix(1000, 0)
	require.Equal(t, Added, s.Put(key(1), Entry{End: 10, Kind: Producer}, now))
	require.Equal(t, Duplicate, s.Put(key(1), Entry{End: 20, Kind: Producer}, now))
	e, ok := s.Get(key(1))
	require.True(t, ok)
	assert.Equal(t, int64(10), e.End, "the first entry wins")
	_, ok = s.Get(key(2))
	assert.False(t, ok)
}

func TestFullStoreEvictsOldest(t *testing.T) {
	s := New(3, time.Minute)
	now := time.Unix(1000, 0)
	for i := uint64(1); i <= 3; i++ {
		require.Equal(t, Added, s.Put(key(i), Entry{Kind: Producer}, now))
	}
	require.Equal(t, AddedEvicting, s.Put(key(4), Entry{Kind: Producer}, now))
	_, ok := s.Get(key(1))
	assert.False(t, ok, "oldest evicted")
	for i := uint64(2); i <= 4; i++ {
		_, ok := s.Get(key(i))
		assert.True(t, ok)
	}
	assert.Equal(t, 3, s.Len())
}

func TestExpire(t *testing.T) {
	s := New(10, time.Minute)
	t0 := time.Unix(1000, 0)
	s.Put(key(1), Entry{}, t0)
	s.Put(key(2), Entry{}, t0.Add(30*time.Second))
	assert.Equal(t, 0, s.Expire(t0.Add(59*time.Second)))
	assert.Equal(t, 1, s.Expire(t0.Add(time.Minute)))
	assert.Equal(t, 1, s.Len())
	assert.Equal(t, 1, s.Expire(t0.Add(2*time.Minute)))
	assert.Equal(t, 0, s.Len())
	assert.Equal(t, 0, s.Expire(t0.Add(3*time.Minute)), "empty store")
	// The ring keeps working after wrapping around.
	for i := uint64(10); i < 40; i++ {
		s.Put(key(i), Entry{}, t0.Add(4*time.Minute))
	}
	assert.Equal(t, 10, s.Len())
}

// TestMillionProducersStayBounded asserts the size limit, not a timing.
func TestMillionProducersStayBounded(t *testing.T) {
	const limit = 10_000
	s := New(limit, time.Hour)
	now := time.Unix(1000, 0)
	evicted := 0
	for i := uint64(0); i < 1_000_000; i++ {
		if s.Put(key(i), Entry{Kind: Producer}, now) == AddedEvicting {
			evicted++
		}
		if s.Len() > limit {
			t.Fatalf("store grew to %d entries, limit %d", s.Len(), limit)
		}
	}
	assert.Equal(t, limit, s.Len())
	assert.Equal(t, limit, s.indexed(), "index and ring agree")
	assert.Equal(t, 1_000_000-limit, evicted)
	_, ok := s.Get(key(999_999))
	assert.True(t, ok, "newest kept")
}

func TestKeyHelpers(t *testing.T) {
	k := key(5)
	assert.False(t, k.SpanIsEmpty())
	assert.True(t, k.WithSpan([8]byte{}).SpanIsEmpty())
	k2 := k.WithSpan([8]byte{1})
	assert.Equal(t, k[:16], k2[:16])
}

func TestInterner(t *testing.T) {
	in := NewInterner(2)
	a, ok := in.ID("A")
	require.True(t, ok)
	b, _ := in.ID("B")
	assert.NotEqual(t, a, b)
	a2, _ := in.ID("A")
	assert.Equal(t, a, a2)
	_, ok = in.ID("C")
	assert.False(t, ok, "table full")
	assert.Equal(t, "A", in.Name(a))
	assert.Equal(t, "", in.Name(0))
	assert.Equal(t, "", in.Name(99))
}

// indexed counts the occupied index buckets.
func (s *Store) indexed() int {
	n := 0
	for _, b := range s.index {
		if b.pos != 0 {
			n++
		}
	}
	return n
}

// TestChurnKeepsEveryEntryReachable inserts, evicts and expires far more
// entries than fit, in an order that clusters the index, and checks after
// every step that exactly the newest entries can be found.
func TestChurnKeepsEveryEntryReachable(t *testing.T) {
	const size = 257
	s := New(size, time.Minute)
	now := time.Unix(1000, 0)
	for i := uint64(0); i < 20*size; i++ {
		s.Put(key(i), Entry{End: int64(i)}, now)
		if i%97 == 0 {
			now = now.Add(time.Second)
		}
		if i%1000 == 999 {
			now = now.Add(50 * time.Second)
			s.Expire(now)
		}
		if i%31 != 0 {
			continue
		}
		oldest := int64(i) - int64(s.Len()) + 1
		for j := max(int64(0), oldest-size); j <= int64(i); j++ {
			e, ok := s.Get(key(uint64(j)))
			if j >= oldest {
				require.Truef(t, ok, "entry %d (of %d..%d) lost", j, oldest, i)
				require.Equal(t, j, e.End)
			} else {
				require.Falsef(t, ok, "entry %d evicted but found", j)
			}
		}
		require.Equal(t, s.Len(), s.indexed())
	}
}

func TestStoreDoesNotAllocate(t *testing.T) {
	s := New(1000, time.Minute)
	now := time.Unix(1000, 0)
	i := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		s.Put(key(i), Entry{Kind: Producer}, now)
		s.Get(key(i / 2))
		i++
	})
	assert.Zero(t, allocs)
}

func BenchmarkChurn(b *testing.B) {
	s := New(100_000, time.Hour)
	now := time.Unix(1000, 0)
	keys := make([]Key, 1<<20)
	for i := range keys {
		keys[i] = key(uint64(i) * 0x9e3779b97f4a7c15)
	}
	i := 0
	for b.Loop() {
		k := keys[i&(len(keys)-1)]
		s.Put(k, Entry{Kind: Producer}, now)
		s.Get(keys[(i-5000)&(len(keys)-1)])
		i++
	}
}
