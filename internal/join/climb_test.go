package join

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A command's trace as the eventsource runtime exports it: command (1) > service span (2) > repository
// save (3, 2 events) > store append (4, the same 2 events), and a second save (5, 1 event) under the
// service span.
type climbSpan struct {
	span, parent byte
	kind         ClimbKind
}

var commandTrace = []climbSpan{
	{1, 0, Collecting}, {2, 1, Passing}, {3, 2, Covering}, {4, 3, Covering}, {5, 2, Covering},
}

func climbBatch(c *Climb, spans []climbSpan) map[byte]int32 {
	c.Reset()
	idx := map[byte]int32{}
	for _, s := range spans {
		idx[s.span] = c.Span(key(1, s.span), [8]byte{s.parent}, s.kind)
	}
	return idx
}

func TestClimbWithinABatch(t *testing.T) {
	var c Climb
	idx := climbBatch(&c, commandTrace)
	c.Write(key(1, 3), [8]byte{2}, 2)
	c.Write(key(1, 4), [8]byte{3}, 2) // beneath the save: the same events
	c.Write(key(1, 5), [8]byte{2}, 1)
	c.Write(key(1, 6), [8]byte{9}, 7) // its parent (9) is in no batch: dropped without a store
	assert.True(t, c.Needed(nil))
	c.Run(nil, 8)
	assert.Equal(t, int64(3), c.Produced(idx[1]), "the outermost writes' events, once")
	assert.Zero(t, c.Produced(idx[2]))

	c.Reset()
	assert.False(t, c.Needed(nil), "nothing to climb after Reset")
}

func TestClimbDepthBound(t *testing.T) {
	var c Climb
	idx := climbBatch(&c, commandTrace)
	c.Write(key(1, 3), [8]byte{2}, 2)
	c.Run(nil, 1) // one step: from the service span (2), not up to the command
	assert.Zero(t, c.Produced(idx[1]))
}

// TestClimbAcrossBatches: the writes arrive a batch before the service span, which arrives a batch before
// the command (an SDK exports children first). The counts wait in the engine, one span at a time, and
// reach the command; a count whose command never comes is counted when it expires.
func TestClimbAcrossBatches(t *testing.T) {
	f := newFixture(defaults())
	var c Climb
	run := func(spans []climbSpan, writes func()) map[byte]int32 {
		var idx map[byte]int32
		f.batch(func(tx *Tx) {
			idx = climbBatch(&c, spans)
			writes()
			c.Run(tx, 8)
		})
		return idx
	}
	run(commandTrace[2:], func() {
		c.Write(key(1, 3), [8]byte{2}, 2)
		c.Write(key(1, 4), [8]byte{3}, 2)
		c.Write(key(1, 5), [8]byte{2}, 1)
		c.Write(key(1, 7), [8]byte{8}, 4) // a write whose command never arrives
	})
	idx := run(commandTrace[1:2], func() {})
	assert.Zero(t, c.Produced(idx[2]), "the service span passes them on")
	idx = run(commandTrace[:1], func() {})
	assert.Equal(t, int64(3), c.Produced(idx[1]))

	f.clock.Advance(2 * time.Minute)
	f.batch(func(*Tx) {})
	assert.Equal(t, int64(4), f.counts.EventsUnattributed)
}
