package join

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

// Inheritance: a span that cannot say what it is inherits from its nearest
// ancestor in the same process that can (cqrsside: a side). Ancestry
// remembers that for recent spans, so a span whose parent came in an earlier
// batch still inherits; Lineage is one batch's spans and the one walk up
// their parent chains, through the batch and then the Ancestry. No span waits:
// a span whose parent has not arrived goes on with its own fallback, counted,
// and its children inherit that.

// Ancestor is what Ancestry remembers of a span, packed into 8 bytes.
type Ancestor struct {
	// Value is what the span's descendants inherit (0: nothing), below 128.
	Value uint8
	// Proc identifies the process that emitted the span: nothing is
	// inherited across processes.
	Proc uint32
	// Runner marks a subscription runner's apply span.
	Runner bool
	// ApplyBelow is no span's entry: it records, under the id of a parent not
	// seen yet, that an apply span ran beneath it in Proc; the parent's own
	// entry replaces it when it arrives.
	ApplyBelow bool
}

const (
	ancestorRunner     = 0x80
	ancestorApplyBelow = 1 << 40
)

func (a Ancestor) pack() uint64 {
	v := uint64(a.Value&0x7f) | uint64(a.Proc)<<8
	if a.Runner {
		v |= ancestorRunner
	}
	if a.ApplyBelow {
		v |= ancestorApplyBelow
	}
	return v
}

func unpackAncestor(v uint64) Ancestor {
	return Ancestor{Value: uint8(v & 0x7f), Proc: uint32(v >> 8), Runner: v&ancestorRunner != 0,
		ApplyBelow: v&ancestorApplyBelow != 0}
}

// AncestryCounts are what an Ancestry dropped in one batch.
type AncestryCounts struct {
	// Expired: entries older than the TTL; Evicted: the oldest entries,
	// dropped to make room.
	Expired, Evicted int64
}

// Ancestry is a bounded table of span id -> Ancestor: a 24-byte ring slot an
// entry and a power-of-two index of 8-byte cells at most half full (about 45
// bytes an entry; 4.5 MB for 100k). It owns its lock: a batch opens an
// AncestryTx (Begin), reads and writes through it, and closes it (End), which
// reports what was dropped to the callback given to NewAncestry.
type Ancestry struct {
	clock  clockwork.Clock
	record func(context.Context, AncestryCounts)

	mu     sync.Mutex
	table  *ringmap.Map[[8]byte, uint64]
	counts AncestryCounts
}

// NewAncestry returns a table of at most maxEntries spans, each kept through
// ttl.
func NewAncestry(maxEntries int, ttl time.Duration, clock clockwork.Clock, record func(context.Context, AncestryCounts)) *Ancestry {
	// An entry is kept through its whole TTL and dropped only once older;
	// ringmap drops it at exactly the TTL.
	if ttl < math.MaxInt64 {
		ttl++
	}
	return &Ancestry{clock: clock, record: record, table: ringmap.New[[8]byte, uint64](maxEntries, ttl, hashSpanID)}
}

// hashSpanID is Fibonacci hashing of the id's bytes: ringmap indexes with the
// top bits, which this spreads even for ids that differ in one byte only
// (sequential ids from some SDKs).
func hashSpanID(id [8]byte) uint64 { return binary.LittleEndian.Uint64(id[:]) * 0x9E3779B97F4A7C15 }

// Len is the number of entries (for tests and gauges).
func (a *Ancestry) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table.Len()
}

// Begin locks the table for one batch and drops what is older than the TTL.
func (a *Ancestry) Begin() *AncestryTx {
	a.mu.Lock()
	now := a.clock.Now()
	a.counts.Expired += int64(a.table.Expire(now))
	return &AncestryTx{a: a, now: now}
}

// AncestryTx is one batch's access to an Ancestry, from Begin to End.
type AncestryTx struct {
	a   *Ancestry
	now time.Time
}

// End reports the batch's counts and unlocks.
func (tx *AncestryTx) End(ctx context.Context) {
	a := tx.a
	c := a.counts
	a.counts = AncestryCounts{}
	a.mu.Unlock()
	if a.record != nil && c != (AncestryCounts{}) {
		a.record(ctx, c)
	}
}

// Get returns what is remembered of the span id.
func (tx *AncestryTx) Get(id [8]byte) (Ancestor, bool) {
	if id == [8]byte{} {
		return Ancestor{}, false
	}
	v, ok := tx.a.table.Lookup(id, tx.now)
	return unpackAncestor(v), ok
}

// Put remembers a for the span id. An entry already there keeps its place and
// age (span ids are unique: a repeat is a duplicate, not a refresh); its
// value is replaced.
func (tx *AncestryTx) Put(id [8]byte, a Ancestor) {
	if id == [8]byte{} {
		return
	}
	if tx.a.table.Set(id, a.pack(), tx.now) == ringmap.AddedEvicting {
		tx.a.counts.Evicted++
	}
}

// Lineage is one batch's spans for inheritance, reused from batch to batch.
// Add every span in batch order, Index the ones with a usable id, then
// Resolve the pending ones.
type Lineage struct {
	nodes []lineNode
	index batchIndex[[8]byte]
	path  []int32
	// Counts of the batch, since Reset: walks stopped at a parent in another
	// process, at a cycle, or at a parent not arrived (Unseen, per span).
	OtherProcess, Cycles, Unseen int64
}

type lineNode struct {
	parent [8]byte
	proc   uint32
	state  uint8
	// value: the node's own once resolved; fallback: what it takes when it
	// inherits nothing.
	value, fallback uint8
}

const (
	lineDone uint8 = iota
	linePending
	lineVisiting
)

// Reset empties the lineage for the next batch.
func (l *Lineage) Reset() {
	l.nodes = l.nodes[:0]
	l.index.reset()
	l.path = l.path[:0]
	l.OtherProcess, l.Cycles, l.Unseen = 0, 0, 0
	if cap(l.nodes) > maxKeptLen {
		l.nodes = nil
	}
}

// Add adds a span: resolved with its own value, or pending with a fallback.
// It returns the span's node index.
func (l *Lineage) Add(parent [8]byte, proc uint32, pending bool, value uint8) int32 {
	n := lineNode{parent: parent, proc: proc, value: value}
	if pending {
		n.state, n.fallback, n.value = linePending, value, 0
	}
	l.nodes = append(l.nodes, n)
	return int32(len(l.nodes) - 1)
}

// Index makes the node i findable by its span id; false when another node of
// the batch has the id already.
func (l *Lineage) Index(i int32, id [8]byte) bool {
	l.index.hash = hashSpanID
	return l.index.insert(id, hashSpanID(id), i)
}

// Find returns the node of the batch with the span id.
func (l *Lineage) Find(id [8]byte) (int32, bool) {
	return l.index.find(id, hashSpanID(id))
}

// Pending reports whether node i still needs its ancestor's value.
func (l *Lineage) Pending(i int32) bool { return l.nodes[i].state == linePending }

// Value is node i's value, once resolved.
func (l *Lineage) Value(i int32) uint8 { return l.nodes[i].value }

// Resolve walks up from the pending node i through its parents in the batch,
// then the Ancestry, to the nearest ancestor of the same process that has a
// value. Every node on the way gets that value (settle is called with
// inherited true), else its own fallback (inherited false; unseen when the
// walk stopped at a parent that has not arrived), top-down.
func (l *Lineage) Resolve(i int32, tx *AncestryTx, settle func(i int32, value uint8, inherited, unseen bool)) {
	path := l.path[:0]
	known, value := false, uint8(0)
	j := i
walk:
	for {
		n := &l.nodes[j]
		n.state = lineVisiting
		path = append(path, j)
		if n.parent == [8]byte{} {
			known = true
			break
		}
		if pi, ok := l.Find(n.parent); ok {
			pn := &l.nodes[pi]
			if pn.proc != n.proc {
				l.OtherProcess++
				known = true
				break walk
			}
			switch pn.state {
			case lineDone:
				known, value = true, pn.value
				break walk
			case lineVisiting:
				l.Cycles++
				known = true
				break walk
			case linePending:
				j = pi
				continue
			}
		}
		if a, ok := tx.Get(n.parent); ok && !a.ApplyBelow {
			known = true
			if a.Proc == n.proc {
				value = a.Value
			} else {
				l.OtherProcess++
			}
		}
		break
	}
	unseen := !known
	for k := len(path) - 1; k >= 0; k-- {
		n := &l.nodes[path[k]]
		n.state = lineDone
		if known && value != 0 {
			n.value = value
			settle(path[k], value, true, false)
		} else {
			if unseen {
				l.Unseen++
			}
			n.value = n.fallback
			settle(path[k], n.value, false, unseen)
		}
		known, value = true, n.value
	}
	l.path = path
}
