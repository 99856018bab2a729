package dedupe

import (
	"encoding/binary"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func ids(n uint64) (pcommon.TraceID, pcommon.SpanID) {
	var t pcommon.TraceID
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(t[:8], n/7+1)
	binary.BigEndian.PutUint64(s[:], n)
	return t, s
}

func TestSeen(t *testing.T) {
	now := time.Unix(100, 0)
	w := New(4, time.Minute)
	for n := range uint64(4) {
		tr, sp := ids(n + 1)
		if dup, ev := w.Seen(tr, sp, now); dup || ev {
			t.Fatalf("span %d: dup %v, evicted %v on first sight", n, dup, ev)
		}
	}
	tr, sp := ids(1)
	if dup, _ := w.Seen(tr, sp, now); !dup {
		t.Fatal("a repeat within the window is a duplicate")
	}
	// A fifth span evicts the oldest.
	tr5, sp5 := ids(5)
	if _, ev := w.Seen(tr5, sp5, now); !ev {
		t.Fatal("a full table evicts")
	}
	if dup, _ := w.Seen(tr, sp, now); dup {
		t.Fatal("an evicted span is new again")
	}
	// After the window every span is new again.
	if dup, _ := w.Seen(tr5, sp5, now.Add(time.Minute)); dup {
		t.Fatal("a span older than the window is new again")
	}
	if dup, ev := w.Seen(pcommon.TraceID{}, sp, now); dup || ev {
		t.Fatal("spans without ids are never recorded")
	}
	if dup, _ := w.Seen(pcommon.TraceID{}, sp, now); dup {
		t.Fatal("spans without ids are never duplicates")
	}
}

func TestShards(t *testing.T) {
	w := New(1<<17, time.Minute)
	if len(w.shards) != maxShards {
		t.Fatalf("%d shards", len(w.shards))
	}
	if len(New(1000, time.Minute).shards) != 1 {
		t.Fatal("small tables are not split")
	}
}

func BenchmarkSeen(b *testing.B) {
	for _, size := range []int{8192, 1 << 17} {
		b.Run(time.Duration(size).String(), func(b *testing.B) {
			w := New(size, time.Minute)
			now := time.Unix(100, 0)
			var n uint64
			for b.Loop() {
				n++
				tr, sp := ids(n)
				w.Seen(tr, sp, now)
			}
		})
	}
}

// TestSeenAllAgreesWithSeen: a stream of batches (fresh spans, repeats within a batch and across batches,
// spans without ids, a full table evicting, the window passing) gives the same answers and counts through
// SeenAll as span by span through Seen, on one shard and on sixteen.
func TestSeenAllAgreesWithSeen(t *testing.T) {
	for _, size := range []int{64, 1 << 17} {
		one, all := New(size, time.Minute), New(size, time.Minute)
		all.seed = one.seed // the same fingerprints, so the same shards and evictions
		var sc Scratch
		now := time.Unix(100, 0)
		n := uint64(0)
		var dupOne, dupAll, evOne, evAll int
		for batch := range 200 {
			var refs []Ref
			for j := range 50 {
				switch {
				case j%10 == 3 && batch > 0: // a span of the previous batch again
					tr, sp := ids(n - 40)
					refs = append(refs, Ref{tr, sp})
				case j%17 == 5 && len(refs) > 0: // a repeat within the batch
					refs = append(refs, refs[0])
				case j%23 == 7:
					_, sp := ids(n)
					refs = append(refs, Ref{Span: sp})
				default:
					n++
					tr, sp := ids(n)
					refs = append(refs, Ref{tr, sp})
				}
			}
			if batch%50 == 49 {
				now = now.Add(2 * time.Minute) // the window passes
			}
			dup := make([]bool, len(refs))
			d, e := all.SeenAll(&sc, refs, now, dup)
			dupAll += d
			evAll += e
			for i, r := range refs {
				want, ev := one.Seen(r.Trace, r.Span, now)
				if want != dup[i] {
					t.Fatalf("size %d batch %d span %d: SeenAll says dup %v, Seen %v", size, batch, i, dup[i], want)
				}
				if want {
					dupOne++
				}
				if ev {
					evOne++
				}
			}
		}
		if dupAll != dupOne || evAll != evOne || dupAll == 0 || (size == 64) != (evAll > 0) {
			t.Fatalf("size %d: SeenAll %d dups %d evictions, Seen %d and %d", size, dupAll, evAll, dupOne, evOne)
		}
	}
}

func BenchmarkSeenAll(b *testing.B) {
	for _, size := range []int{8192, 1 << 17, 1 << 20} {
		b.Run(time.Duration(size).String(), func(b *testing.B) {
			w := New(size, time.Minute)
			now := time.Unix(100, 0)
			refs := make([]Ref, 1000)
			dup := make([]bool, len(refs))
			var sc Scratch
			var n uint64
			for b.Loop() {
				for i := range refs {
					n++
					refs[i].Trace, refs[i].Span = ids(n)
				}
				w.SeenAll(&sc, refs, now, dup)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(refs)), "ns/span")
		})
	}
}
