package join

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func spanID(n uint64) [8]byte {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], n)
	return s
}

type ancestryFixture struct {
	a      *Ancestry
	clock  *clockwork.FakeClock
	counts AncestryCounts
}

func newAncestryFixture(maxEntries int, ttl time.Duration) *ancestryFixture {
	f := &ancestryFixture{clock: clockwork.NewFakeClockAt(t0)}
	f.a = NewAncestry(maxEntries, ttl, f.clock, func(_ context.Context, c AncestryCounts) {
		f.counts.Expired += c.Expired
		f.counts.Evicted += c.Evicted
	})
	return f
}

func (f *ancestryFixture) tx(fn func(tx *AncestryTx)) {
	tx := f.a.Begin()
	fn(tx)
	tx.End(context.Background())
}

func TestAncestryPacksEveryField(t *testing.T) {
	for _, a := range []Ancestor{
		{}, {Value: 127, Proc: ^uint32(0), Runner: true}, {Proc: 7, ApplyBelow: true}, {Value: 3, Proc: 1 << 31},
	} {
		assert.Equal(t, a, unpackAncestor(a.pack()))
	}
}

// TestAncestryTTL: an entry is kept through its whole TTL and counted when it leaves.
func TestAncestryTTL(t *testing.T) {
	f := newAncestryFixture(10, 30*time.Second)
	f.tx(func(tx *AncestryTx) { tx.Put(spanID(1), Ancestor{Value: 2}) })
	f.clock.Advance(20 * time.Second)
	f.tx(func(tx *AncestryTx) { tx.Put(spanID(2), Ancestor{Value: 3}) })

	f.clock.Advance(10 * time.Second)
	f.tx(func(tx *AncestryTx) {
		a, ok := tx.Get(spanID(1))
		assert.True(t, ok, "exactly the TTL old: still there")
		assert.Equal(t, uint8(2), a.Value)
	})
	assert.Zero(t, f.counts.Expired)

	f.clock.Advance(time.Nanosecond)
	f.tx(func(tx *AncestryTx) {
		_, ok := tx.Get(spanID(1))
		assert.False(t, ok, "older than the TTL")
		_, ok = tx.Get(spanID(2))
		assert.True(t, ok)
	})
	assert.Equal(t, int64(1), f.counts.Expired)
	f.clock.Advance(time.Hour)
	f.tx(func(*AncestryTx) {})
	assert.Equal(t, int64(2), f.counts.Expired)
	assert.Zero(t, f.a.Len())
}

func TestAncestryCapacity(t *testing.T) {
	f := newAncestryFixture(3, time.Minute)
	for i := uint64(1); i <= 5; i++ {
		f.tx(func(tx *AncestryTx) { tx.Put(spanID(i), Ancestor{Value: uint8(i)}) })
		f.clock.Advance(time.Second)
	}
	assert.Equal(t, int64(2), f.counts.Evicted)
	f.tx(func(tx *AncestryTx) {
		for i := uint64(1); i <= 5; i++ {
			_, ok := tx.Get(spanID(i))
			assert.Equal(t, i > 2, ok, "oldest evicted first: %d", i)
		}
		// A duplicate id updates in place and evicts nothing.
		tx.Put(spanID(5), Ancestor{Value: 9})
		a, _ := tx.Get(spanID(5))
		assert.Equal(t, uint8(9), a.Value)
	})
	assert.Equal(t, int64(2), f.counts.Evicted)
}

func TestAncestryEmptyIDIgnored(t *testing.T) {
	f := newAncestryFixture(0, time.Minute) // clamped to 1
	f.tx(func(tx *AncestryTx) {
		tx.Put([8]byte{}, Ancestor{Value: 1})
		_, ok := tx.Get([8]byte{})
		assert.False(t, ok)
	})
}

func TestAncestryDoesNotAllocate(t *testing.T) {
	f := newAncestryFixture(1024, time.Minute)
	tx := f.a.Begin()
	defer tx.End(context.Background())
	n := uint64(0)
	for ; n < 4096; n++ {
		tx.Put(spanID(n), Ancestor{Value: 1})
	}
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		tx.Put(spanID(n), Ancestor{Value: 1})
		tx.Get(spanID(n - 1))
	})
	assert.Zero(t, allocs)
}

// lineSpan is a span of a test batch: its id, parent, process, and own value (resolved) or fallback
// (pending).
type lineSpan struct {
	id, parent uint64
	proc       uint32
	pending    bool
	value      uint8
}

type settled struct {
	value             uint8
	inherited, unseen bool
}

// resolveBatch adds the spans, resolves the pending ones and returns what each pending span settled on.
func resolveBatch(t *testing.T, l *Lineage, tx *AncestryTx, spans []lineSpan) map[uint64]settled {
	t.Helper()
	l.Reset()
	for i, s := range spans {
		var parent [8]byte
		if s.parent != 0 {
			parent = spanID(s.parent)
		}
		require.Equal(t, int32(i), l.Add(parent, s.proc, s.pending, s.value))
		l.Index(int32(i), spanID(s.id))
	}
	got := map[uint64]settled{}
	for i, s := range spans {
		if s.pending && l.Pending(int32(i)) {
			l.Resolve(int32(i), tx, func(j int32, v uint8, inherited, unseen bool) {
				_, dup := got[spans[j].id]
				assert.False(t, dup, "span %d settled twice", spans[j].id)
				got[spans[j].id] = settled{v, inherited, unseen}
			})
		}
	}
	for i, s := range spans {
		if s.pending {
			assert.Equal(t, got[s.id].value, l.Value(int32(i)))
		}
	}
	return got
}

func TestLineageWithinABatch(t *testing.T) {
	f := newAncestryFixture(100, time.Minute)
	var l Lineage
	f.tx(func(tx *AncestryTx) {
		// command (1, value 1) > service (2) > load (3, fallback 2): both inherit 1, whatever the order.
		// 4 is another process's span under 1: its own fallback. 5 > 6 form a cycle.
		got := resolveBatch(t, &l, tx, []lineSpan{
			{id: 3, parent: 2, proc: 1, pending: true, value: 2},
			{id: 2, parent: 1, proc: 1, pending: true},
			{id: 1, proc: 1, value: 1},
			{id: 4, parent: 1, proc: 2, pending: true, value: 3},
			{id: 5, parent: 6, proc: 1, pending: true},
			{id: 6, parent: 5, proc: 1, pending: true},
		})
		assert.Equal(t, settled{1, true, false}, got[3])
		assert.Equal(t, settled{1, true, false}, got[2])
		assert.Equal(t, settled{3, false, false}, got[4])
		assert.Equal(t, settled{0, false, false}, got[5])
		assert.Equal(t, settled{0, false, false}, got[6])
		assert.Equal(t, int64(1), l.OtherProcess)
		assert.Equal(t, int64(1), l.Cycles)
		assert.Zero(t, l.Unseen)
	})
}

func TestLineageAcrossBatches(t *testing.T) {
	f := newAncestryFixture(100, time.Minute)
	var l Lineage
	f.tx(func(tx *AncestryTx) {
		tx.Put(spanID(1), Ancestor{Value: 1, Proc: 1})
		tx.Put(spanID(7), Ancestor{Proc: 1, ApplyBelow: true}) // a marker, no span: inherits nothing
	})
	f.tx(func(tx *AncestryTx) {
		got := resolveBatch(t, &l, tx, []lineSpan{
			{id: 2, parent: 1, proc: 1, pending: true},            // its parent, remembered
			{id: 3, parent: 1, proc: 2, pending: true, value: 2},  // remembered, another process
			{id: 4, parent: 9, proc: 1, pending: true, value: 3},  // parent not arrived: its fallback
			{id: 5, parent: 4, proc: 1, pending: true},            // under it: inherits the fallback
			{id: 10, parent: 6, proc: 1, pending: true, value: 2}, // under 6, before it: its fallback, unseen
			{id: 6, parent: 8, proc: 1, pending: true},            // not arrived, no fallback (walked from 10)
			{id: 11, parent: 7, proc: 1, pending: true, value: 2}, // the marker is no ancestor
		})
		assert.Equal(t, settled{1, true, false}, got[2])
		assert.Equal(t, settled{2, false, false}, got[3])
		assert.Equal(t, settled{3, false, true}, got[4])
		assert.Equal(t, settled{3, true, false}, got[5])
		assert.Equal(t, settled{0, false, true}, got[6])
		assert.Equal(t, settled{2, false, true}, got[10])
		assert.Equal(t, settled{2, false, true}, got[11])
		assert.Equal(t, int64(1), l.OtherProcess)
		assert.Equal(t, int64(4), l.Unseen)
	})
}
