package ringmap

import (
	"encoding/binary"
	"testing"
	"time"
)

// The benchmarks run a table at capacity under constant churn, the
// processors' steady state: every Put evicts or follows an expiry, and each
// Put comes with lookups of one stored key and one missing key.

type joinEntry struct {
	parent     [8]byte
	start, end int64
	command    uint32
	kind       uint8
}

func BenchmarkChurnKey24(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 17} {
		b.Run(sizeName(size), func(b *testing.B) {
			m := New[[24]byte, joinEntry](size, time.Hour, nil)
			var k [24]byte
			now := t0
			b.ReportAllocs()
			for i := range b.N {
				binary.LittleEndian.PutUint64(k[16:], uint64(i)*0x9E3779B97F4A7C15)
				m.Put(k, joinEntry{end: int64(i)}, now)
				m.Get(k)
				k[0]++
				m.Get(k)
				k[0]--
			}
		})
	}
}

func BenchmarkChurnSpanID(b *testing.B) {
	fib := func(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 }
	for _, size := range []int{1 << 10, 1 << 17} {
		b.Run(sizeName(size), func(b *testing.B) {
			m := New[uint64, uint64](size, time.Second, fib)
			now := t0
			b.ReportAllocs()
			for i := range b.N {
				now = now.Add(time.Microsecond)
				m.Expire(now)
				k := uint64(i+1) << 8 // sequential ids in the high bytes
				m.Put(k, uint64(i), now)
				m.Get(k)
				m.Get(k + 1)
			}
		})
	}
}

// BenchmarkChurnGoMap is the baseline the table replaces: a Go map plus a
// FIFO of keys.
func BenchmarkChurnGoMap(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 17} {
		b.Run(sizeName(size), func(b *testing.B) {
			m := make(map[[24]byte]joinEntry, size)
			fifo := make([][24]byte, size)
			head, n := 0, 0
			var k [24]byte
			b.ReportAllocs()
			for i := range b.N {
				binary.LittleEndian.PutUint64(k[16:], uint64(i)*0x9E3779B97F4A7C15)
				if n == size {
					delete(m, fifo[head])
					head = (head + 1) % size
					n--
				}
				m[k] = joinEntry{end: int64(i)}
				fifo[(head+n)%size] = k
				n++
				_ = m[k]
				k[0]++
				_ = m[k]
				k[0]--
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<17 {
		return "128k"
	}
	return "1k"
}
