package store

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAgainstModel checks the store against a Go map plus a FIFO through
// 300k puts of keys drawn from a small alphabet (many duplicates and hash
// collisions), at several sizes: the same keys are found, with the same entry.
func TestAgainstModel(t *testing.T) {
	for _, size := range []int{1, 2, 3, 100, 1000, 16384} {
		s := New(size, time.Hour)
		rng := rand.New(rand.NewPCG(1, uint64(size)))
		model := map[Key]int64{}
		var fifo []Key
		now := time.Unix(1000, 0)
		for i := range 300_000 {
			var k Key
			for b := range k {
				k[b] = byte(rng.IntN(4))
			}
			if _, dup := model[k]; dup {
				if s.Put(k, Entry{End: int64(i)}, now) != Duplicate {
					t.Fatalf("size %d, put %d: duplicate not detected", size, i)
				}
			} else {
				if len(fifo) == size {
					delete(model, fifo[0])
					fifo = fifo[1:]
				}
				model[k] = int64(i)
				fifo = append(fifo, k)
				s.Put(k, Entry{End: int64(i)}, now)
			}
			if i%997 != 0 {
				continue
			}
			for k, v := range model {
				if e, ok := s.Get(k); !ok || e.End != v {
					t.Fatalf("size %d, put %d: entry lost or wrong (found %v, end %d, want %d)", size, i, ok, e.End, v)
				}
			}
			if s.Len() != len(model) || s.indexed() != len(model) {
				t.Fatalf("size %d, put %d: len %d, indexed %d, model %d", size, i, s.Len(), s.indexed(), len(model))
			}
		}
	}
}
