package join

import "encoding/binary"

// batchIndex finds one batch's nodes by key: open addressing over a
// power-of-two table kept at most half full, emptied for the next batch and
// reused. Every span of every batch goes in, so the table does not grow in
// steady state and an insert is one multiply and mostly one cache line (a Go
// map measured slower here). Callers pass the key's hash
// (keyHash for a Key, hashSpanID for a span id), so the probe loop has no
// indirect call.
type batchIndex[K comparable] struct {
	hash  func(K) uint64 // for rehashing on growth only
	slots []indexSlot[K]
	shift uint8 // 64 - log2(len(slots))
	n     int
}

type indexSlot[K comparable] struct {
	key K
	pos int32 // the node's index + 1; 0: empty
}

// minIndexSlots is the smallest table; maxKeptSlots the largest a reused
// index keeps (after an unusually large batch it starts small again).
const (
	minIndexSlots = 64
	maxKeptSlots  = 2 * maxKeptLen
)

// keyHash is Fibonacci hashing of the span part mixed with the trace part;
// the table is indexed by the top bits.
func keyHash(k Key) uint64 {
	return (binary.LittleEndian.Uint64(k[16:]) ^ binary.LittleEndian.Uint64(k[:8])) * 0x9E3779B97F4A7C15
}

// reset empties the index.
func (x *batchIndex[K]) reset() {
	if len(x.slots) > maxKeptSlots {
		x.slots, x.shift, x.n = nil, 0, 0
		return
	}
	if x.n > 0 {
		clear(x.slots)
		x.n = 0
	}
}

// reserve makes room for n keys without growing.
func (x *batchIndex[K]) reserve(n int) {
	if 2*n > len(x.slots) {
		x.resize(2 * n)
	}
}

// resize rehashes into a table of at least size slots.
func (x *batchIndex[K]) resize(size int) {
	slots := minIndexSlots
	shift := uint8(64 - 6)
	for slots < size {
		slots <<= 1
		shift--
	}
	old := x.slots
	x.slots, x.shift = make([]indexSlot[K], slots), shift
	mask := uint64(slots - 1)
	for _, s := range old {
		if s.pos == 0 {
			continue
		}
		j := x.hash(s.key) >> x.shift
		for x.slots[j].pos != 0 {
			j = (j + 1) & mask
		}
		x.slots[j] = s
	}
}

// find returns the node index stored under k, whose hash is h.
func (x *batchIndex[K]) find(k K, h uint64) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for i := h >> x.shift; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.pos == 0 {
			return 0, false
		}
		if s.key == k {
			return s.pos - 1, true
		}
	}
}

// insert stores the node index i under k, whose hash is h, unless k is there
// already (then it reports false and keeps the first).
func (x *batchIndex[K]) insert(k K, h uint64, i int32) bool {
	if 2*(x.n+1) > len(x.slots) {
		x.resize(2 * (x.n + 1))
	}
	mask := uint64(len(x.slots) - 1)
	for j := h >> x.shift; ; j = (j + 1) & mask {
		s := &x.slots[j]
		if s.pos == 0 {
			*s = indexSlot[K]{key: k, pos: i + 1}
			x.n++
			return true
		}
		if s.key == k {
			return false
		}
	}
}

// batchFacts is one batch's facts by key (the relays of the batch in flight):
// a batchIndex over a slice. A key put twice keeps its first fact.
type batchFacts struct {
	index batchIndex[Key]
	facts []Fact
}

func newBatchFacts() batchFacts { return batchFacts{index: batchIndex[Key]{hash: keyHash}} }

func (b *batchFacts) put(k Key, f Fact) {
	if b.index.insert(k, keyHash(k), int32(len(b.facts))) {
		b.facts = append(b.facts, f)
	}
}

func (b *batchFacts) get(k Key) (Fact, bool) {
	i, ok := b.index.find(k, keyHash(k))
	if !ok {
		return Fact{}, false
	}
	return b.facts[i], true
}

func (b *batchFacts) reset() {
	b.index.reset()
	b.facts = b.facts[:0]
	if cap(b.facts) > maxKeptLen {
		b.facts = nil
	}
}

// KeySet is a set of span keys for one batch, reused from batch to batch (a
// batchIndex without nodes): a processor's per-batch bookkeeping, such as
// which spans are parents of writes, without a Go map insert per span.
type KeySet struct {
	index batchIndex[Key]
}

// Add adds k and reports whether it was not in the set.
func (s *KeySet) Add(k Key) bool {
	s.index.hash = keyHash
	return s.index.insert(k, keyHash(k), 0)
}

// Has reports whether k is in the set.
func (s *KeySet) Has(k Key) bool {
	_, ok := s.index.find(k, keyHash(k))
	return ok
}

// Reset empties the set.
func (s *KeySet) Reset() { s.index.reset() }
