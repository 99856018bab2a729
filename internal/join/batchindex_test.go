package join

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The index answers as a Go map with first-insert-wins would, across growth, duplicates and resets, for
// random ids and for ids that differ in one byte only (sequential ids from some SDKs), which a weak hash
// would pile into one run of slots.
func TestBatchIndexMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := batchIndex[Key]{hash: keyHash}
	for round, n := range []int{0, 1, 63, 64, 65, 1000, 5000, 3, 20000, 10} {
		x.reset()
		want := map[Key]int32{}
		keys := make([]Key, 0, n)
		for i := range n {
			var k Key
			if round%2 == 0 {
				binary.LittleEndian.PutUint64(k[:8], rng.Uint64())
				binary.LittleEndian.PutUint64(k[16:], rng.Uint64())
			} else {
				k[0] = 1
				binary.BigEndian.PutUint64(k[16:], uint64(i)) // sequential, in the last byte first
			}
			if i > 0 && i%7 == 0 {
				k = keys[rng.IntN(len(keys))] // a span id seen again
			}
			keys = append(keys, k)
			_, dup := want[k]
			if !dup {
				want[k] = int32(i)
			}
			require.Equal(t, !dup, x.insert(k, keyHash(k), int32(i)), "round %d: insert %d", round, i)
		}
		require.Equal(t, len(want), x.n)
		for k, i := range want {
			got, ok := x.find(k, keyHash(k))
			require.True(t, ok)
			require.Equal(t, i, got)
		}
		for range 100 {
			var k Key
			binary.LittleEndian.PutUint64(k[16:], rng.Uint64())
			_, ok := x.find(k, keyHash(k))
			_, want := want[k]
			require.Equal(t, want, ok)
		}
		require.LessOrEqual(t, 2*x.n, len(x.slots), "at most half full")
	}
	x.reset()
	var k Key
	_, ok := x.find(k, keyHash(k))
	require.False(t, ok, "empty after reset")
}

// A batch larger than the index keeps lets go of the table at reset.
func TestBatchIndexLetsGoOfAHugeTable(t *testing.T) {
	x := batchIndex[Key]{hash: keyHash}
	for i := range maxKeptLen + 1 {
		var k Key
		binary.LittleEndian.PutUint64(k[16:], uint64(i)+1)
		x.insert(k, keyHash(k), int32(i))
	}
	require.Greater(t, len(x.slots), maxKeptSlots)
	x.reset()
	require.Nil(t, x.slots)
	require.Zero(t, x.n)
}

// A batch's relays: the first fact put under a key is the one found, until the batch ends.
func TestBatchFactsKeepTheFirstUntilReset(t *testing.T) {
	b := newBatchFacts()
	for round := range 2 {
		for i := range 200 {
			var k Key
			binary.LittleEndian.PutUint64(k[16:], uint64(i%150)) // the last 50 are seen again
			b.put(k, Fact{Start: int64(i), Kind: Relay})
		}
		require.Len(t, b.facts, 150, "round %d", round)
		for i := range 150 {
			var k Key
			binary.LittleEndian.PutUint64(k[16:], uint64(i))
			f, ok := b.get(k)
			require.True(t, ok)
			require.Equal(t, int64(i), f.Start, "the first put")
		}
		b.reset()
		var k Key
		_, ok := b.get(k)
		require.False(t, ok, "forgotten at the end of the batch")
	}
}

// A KeySet answers as a Go map of keys would, and is empty after Reset.
func TestKeySetMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s KeySet
	for round := range 3 {
		want := map[Key]bool{}
		for i := range 500 * (round + 1) {
			var k Key
			binary.LittleEndian.PutUint64(k[16:], rng.Uint64N(400)) // repeats
			k[0] = byte(i % 3)
			require.Equal(t, !want[k], s.Add(k))
			want[k] = true
		}
		for range 1000 {
			var k Key
			binary.LittleEndian.PutUint64(k[16:], rng.Uint64N(800))
			k[0] = byte(rng.IntN(4))
			require.Equal(t, want[k], s.Has(k))
		}
		s.Reset()
		for k := range want {
			require.False(t, s.Has(k), "empty after Reset")
			break
		}
	}
}
