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
