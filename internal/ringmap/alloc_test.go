package ringmap

import (
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPointerFree(t *testing.T) {
	type fact struct {
		parent [8]byte
		end    int64
		kind   uint8
	}
	type named struct {
		n    int
		name string
	}
	for _, c := range []struct {
		v    any
		want bool
	}{
		{int64(0), true}, {[24]byte{}, true}, {fact{}, true}, {struct{}{}, true}, {slot[[24]byte, fact]{}, true},
		{bucket{}, true}, {"", false}, {named{}, false}, {[]int{}, false}, {map[int]int{}, false}, {new(int), false},
		{[2]*int{}, false}, {slot[uint64, named]{}, false}, {uintptr(0), false},
	} {
		v, want := c.v, c.want
		assert.Equal(t, want, pointerFree(reflect.TypeOf(v)), "%T", v)
	}
}

// A large table of pointer-free entries lives outside the heap, works like any other, survives garbage
// collections, and its memory is given back once it is unreachable.
func TestLargeTableOutsideTheHeap(t *testing.T) {
	if !offHeapAvailable {
		t.Skip("tables stay in the Go heap on this platform or under the race detector")
	}
	before := offHeapBytes.Load()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	m := New[[24]byte, [5]int64](200_000, time.Minute, nil) // ~13 MB of ring, 4 MB of index
	runtime.ReadMemStats(&ms1)
	mapped := offHeapBytes.Load() - before
	assert.GreaterOrEqual(t, mapped, int64(200_000*(24+40+8)+(1<<19)*8))
	assert.Less(t, ms1.HeapAlloc-ms0.HeapAlloc, uint64(1<<20), "not in the Go heap")

	now := time.Unix(1_800_000_000, 0)
	key := func(i int) (k [24]byte) {
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		return k
	}
	for i := range 250_000 {
		m.Put(key(i), [5]int64{int64(i)}, now)
		if i%50_000 == 0 {
			runtime.GC()
		}
	}
	require.Equal(t, 200_000, m.Len())
	v, ok := m.Get(key(249_999))
	require.True(t, ok)
	assert.Equal(t, int64(249_999), v[0])
	_, ok = m.Get(key(49_999))
	assert.False(t, ok, "the oldest were evicted")

	m = nil
	for range 100 {
		runtime.GC()
		runtime.Gosched()
		if offHeapBytes.Load() == before {
			break
		}
	}
	assert.Equal(t, before, offHeapBytes.Load(), "given back once unreachable")
}
