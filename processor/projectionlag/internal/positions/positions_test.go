package positions

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBehindAndHeadMax(t *testing.T) {
	tr := New(10, 10, 1000)
	assert.False(t, tr.Checkpoint([]byte("svc"), pk("svc", "p"), 5, PhaseUnknown).HaveHead, "no head yet")
	tr.Append([]byte("svc"), 100)
	tr.Append([]byte("svc"), 90) // an older append arriving late never lowers the head
	c := tr.Checkpoint([]byte("svc"), pk("svc", "p"), 40, PhaseUnknown)
	assert.True(t, c.HaveHead)
	assert.Equal(t, int64(60), c.Behind)
	// A checkpoint past the head raises the head: behind is 0, never negative.
	c = tr.Checkpoint([]byte("svc"), pk("svc", "p"), 120, PhaseUnknown)
	assert.Equal(t, int64(0), c.Behind)
	assert.Equal(t, int64(0), tr.Checkpoint([]byte("svc"), pk("svc", "p"), 120, PhaseUnknown).Behind)
}

func TestReplayHeuristic(t *testing.T) {
	tr := New(10, 10, 1000)
	tr.Append([]byte("svc"), 100_000)
	// First seen far behind: replaying.
	assert.True(t, tr.Checkpoint([]byte("svc"), pk("svc", "rebuild"), 10, PhaseUnknown).Replay)
	assert.True(t, tr.Checkpoint([]byte("svc"), pk("svc", "rebuild"), 50_000, PhaseUnknown).Replay)
	// Caught up: live.
	assert.False(t, tr.Checkpoint([]byte("svc"), pk("svc", "rebuild"), 99_500, PhaseUnknown).Replay)

	// A live projection that falls behind stays live.
	assert.False(t, tr.Checkpoint([]byte("svc"), pk("svc", "live"), 99_999, PhaseUnknown).Replay)
	tr.Append([]byte("svc"), 500_000)
	c := tr.Checkpoint([]byte("svc"), pk("svc", "live"), 100_001, PhaseUnknown)
	assert.False(t, c.Replay)
	assert.Equal(t, int64(399_999), c.Behind)

	// The checkpoint moving backwards is a reset: replay.
	assert.True(t, tr.Checkpoint([]byte("svc"), pk("svc", "live"), 5, PhaseUnknown).Replay)

	// An explicit phase wins.
	assert.False(t, tr.Checkpoint([]byte("svc"), pk("svc", "live"), 6, PhaseLive).Replay)
	assert.True(t, tr.Checkpoint([]byte("svc"), pk("svc", "live"), 7, PhaseReplay).Replay)

	r, known := tr.Replaying(pk("svc", "live"))
	assert.True(t, known)
	assert.True(t, r)
	_, known = tr.Replaying(pk("other", "live"))
	assert.False(t, known)
}

func TestReset(t *testing.T) {
	tr := New(10, 10, 1000)
	tr.Append([]byte("svc"), 10)
	assert.False(t, tr.Checkpoint([]byte("svc"), pk("svc", "p"), 10, PhaseUnknown).Replay)
	tr.Reset(pk("svc", "p"))
	r, _ := tr.Replaying(pk("svc", "p"))
	assert.True(t, r)
	tr.Reset(pk("svc", "new"))
	r, _ = tr.Replaying(pk("svc", "new"))
	assert.True(t, r)
}

func TestBounded(t *testing.T) {
	tr := New(3, 5, 1000)
	evH, evP := 0, 0
	for i := 0; i < 100; i++ {
		evH += tr.Append([]byte("svc"+strconv.Itoa(i)), int64(i))
		c := tr.Checkpoint([]byte("svc"), pk("svc", "p"+strconv.Itoa(i)), 1, PhaseUnknown)
		evP += c.EvictedProjections
		evP += tr.Reset(pk("svc", "r"+strconv.Itoa(i)))
	}
	h, p := tr.Sizes()
	assert.Equal(t, 3, h)
	assert.Equal(t, 5, p)
	assert.Equal(t, 97, evH)
	assert.Equal(t, 195, evP)
}

func pk(head, name string) []byte { return ProjectionKey(nil, []byte(head), name) }
