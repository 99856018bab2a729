package join

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWaitsFilterNeverHidesAKey: keys set, replaced and deleted in any order are found exactly while they
// are in the map, also when many share a filter slot (event keys and span keys of one trace alike).
func TestWaitsFilterNeverHidesAKey(t *testing.T) {
	w := newWaits()
	want := map[Key]uint64{}
	for i := range 5000 {
		k := key(byte(i%7), byte(i))
		k[8] = byte(i >> 8) // spread over traces too
		switch i % 3 {
		case 0, 1:
			w.set(k, uint64(i+1))
			want[k] = uint64(i + 1)
		case 2:
			w.del(k)
			delete(want, k)
			w.del(k) // twice: nothing more to forget
		}
	}
	for i := range 5000 {
		k := key(byte(i%7), byte(i))
		k[8] = byte(i >> 8)
		seq, ok := w.get(k)
		wantSeq, wantOK := want[k]
		assert.Equal(t, wantOK, ok, "key %d", i)
		assert.Equal(t, wantSeq, seq, "key %d", i)
	}
	for k, seq := range want {
		w.set(k, seq+1) // a newer join waiting for the same key replaces the older
		w.del(k)
	}
	for _, c := range w.filter {
		if c != 0 {
			t.Fatalf("a slot still counts %d keys after every key was deleted", c)
		}
	}
}
