package state

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

var rules = Rules{Window: time.Minute, MinSamples: 3, MaxSamples: 5}

type desc struct{ name string }

func (d desc) Describe(_, attrs pcommon.Map) { attrs.PutStr("projection.name", d.name) }

// feed observes (behind, pos) samples 10s apart on a fake clock and returns
// the state evaluated right after the last one.
func feed(t *testing.T, samples ...[2]int64) (*Tracker, *clockwork.FakeClock, State) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Unix(1000, 0))
	tr := NewTracker(rules, 10)
	for _, s := range samples {
		_, dropped := tr.Observe([]byte("k"), 0, desc{"p"}, Sample{At: clock.Now(), Behind: s[0], Pos: s[1], HasPos: s[1] >= 0})
		require.False(t, dropped)
		clock.Advance(10 * time.Second)
	}
	return tr, clock, stateOf(t, tr, clock.Now(), time.Hour)
}

func stateOf(t *testing.T, tr *Tracker, now time.Time, expiry time.Duration) State {
	t.Helper()
	got := State(255)
	tr.Flush(now, expiry, func(_ string, _, attrs pcommon.Map, st State) {
		v, _ := attrs.Get("projection.name")
		assert.Equal(t, "p", v.Str())
		got = st
	})
	return got
}

func TestCaughtUpIsOK(t *testing.T) {
	_, _, st := feed(t, [2]int64{5, 10}, [2]int64{9, 11}, [2]int64{0, 20})
	assert.Equal(t, OK, st)
}

func TestTooFewSamplesIsOK(t *testing.T) {
	_, _, st := feed(t, [2]int64{5, 10}, [2]int64{9, 10})
	assert.Equal(t, OK, st)
}

func TestAdvancingButNeverCatchingUpIsLagging(t *testing.T) {
	_, _, st := feed(t, [2]int64{5, 10}, [2]int64{5, 12}, [2]int64{8, 15}, [2]int64{12, 18})
	assert.Equal(t, Lagging, st)
}

func TestShrinkingLagIsOK(t *testing.T) {
	_, _, st := feed(t, [2]int64{50, 10}, [2]int64{40, 30}, [2]int64{45, 40})
	assert.Equal(t, OK, st)
}

func TestCommitsWithoutProgressIsStalled(t *testing.T) {
	_, _, st := feed(t, [2]int64{5, 10}, [2]int64{7, 10}, [2]int64{9, 10})
	assert.Equal(t, Stalled, st)
}

func TestStalledNeedsPositions(t *testing.T) {
	// Without positions a constant lag cannot be told from a stall: lag
	// never shrinking is reported as lagging.
	_, _, st := feed(t, [2]int64{5, -1}, [2]int64{5, -1}, [2]int64{5, -1})
	assert.Equal(t, Lagging, st)
}

func TestNoSamplesForLongerThanWindowIsStopped(t *testing.T) {
	tr, clock, st := feed(t, [2]int64{0, 10}, [2]int64{0, 11}, [2]int64{0, 12})
	require.Equal(t, OK, st)
	clock.Advance(rules.Window)
	assert.Equal(t, Stopped, stateOf(t, tr, clock.Now(), time.Hour))
	// Stopped is reported until the entry expires, then it is forgotten.
	assert.Equal(t, 1, tr.Len())
	clock.Advance(2 * time.Hour)
	assert.Equal(t, Stopped, stateOf(t, tr, clock.Now(), time.Hour))
	assert.Equal(t, 0, tr.Len())
}

func TestOldSamplesLeaveTheWindow(t *testing.T) {
	// Stalled long ago, then nothing for 50s, then one fresh sample: only
	// the fresh sample is in the window, too few to judge.
	tr, clock, st := feed(t, [2]int64{5, 10}, [2]int64{7, 10}, [2]int64{9, 10})
	require.Equal(t, Stalled, st)
	clock.Advance(40 * time.Second)
	tr.Observe([]byte("k"), 0, desc{"p"}, Sample{At: clock.Now(), Behind: 3, Pos: 30, HasPos: true})
	assert.Equal(t, OK, stateOf(t, tr, clock.Now(), time.Hour))
}

func TestRingKeepsNewestSamples(t *testing.T) {
	// 5 samples kept: the early shrink falls out, leaving a rising lag.
	_, _, st := feed(t, [2]int64{50, 1}, [2]int64{10, 2}, [2]int64{11, 3}, [2]int64{12, 4}, [2]int64{13, 5}, [2]int64{14, 6}, [2]int64{15, 7})
	assert.Equal(t, Lagging, st)
}

func TestTrackerIsBounded(t *testing.T) {
	tr := NewTracker(rules, 2)
	now := time.Unix(0, 0)
	for i, k := range []string{"a", "b", "c"} {
		created, dropped := tr.Observe([]byte(k), 0, desc{"p"}, Sample{At: now})
		assert.Equal(t, i < 2, created)
		assert.Equal(t, i == 2, dropped)
	}
	assert.Equal(t, 2, tr.Len())
}

func TestStateNames(t *testing.T) {
	assert.Equal(t, []string{"ok", "lagging", "stalled", "stopped"}, []string{OK.String(), Lagging.String(), Stalled.String(), Stopped.String()})
}
