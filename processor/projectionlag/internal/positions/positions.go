// Package positions keeps, per head key (by default service + store), the
// newest global position appended, and per projection the position its
// checkpoint holds and whether it is replaying. Both tables are bounded;
// a full table forgets its oldest-created entry.
package positions

// Tracker is not safe for concurrent use; the processor serialises access.
type Tracker struct {
	heads           *fifo[int64]
	projections     *fifo[projectionState]
	replayThreshold int64
}

type projectionState struct {
	lastPos int64
	replay  bool
}

// New returns a tracker. A projection whose checkpoint is first seen more
// than replayThreshold positions behind the head is taken to be replaying
// (catching up or rebuilding) until it comes within the threshold.
func New(maxHeads, maxProjections int, replayThreshold int64) *Tracker {
	return &Tracker{
		heads:           newFIFO[int64](maxHeads),
		projections:     newFIFO[projectionState](maxProjections),
		replayThreshold: replayThreshold,
	}
}

// Keys are passed as bytes built in the caller's reused buffer: look-ups
// of known keys then allocate nothing; only a new key is copied.

// Append records that pos was appended under head. It returns how many
// heads were evicted to make room.
func (t *Tracker) Append(head []byte, pos int64) (evicted int) {
	if p, ok := t.heads.get(head); ok {
		if pos > *p {
			*p = pos
		}
		return 0
	}
	return t.heads.put(head, pos)
}

// Head returns the newest position known under head.
func (t *Tracker) Head(head []byte) (int64, bool) {
	if p, ok := t.heads.get(head); ok {
		return *p, true
	}
	return 0, false
}

// Checkpoint is one checkpoint observation.
type Checkpoint struct {
	// Behind is head - checkpoint position, when HaveHead.
	Behind   int64
	HaveHead bool
	// Replay is the projection's phase after this observation.
	Replay bool
	// Evicted projections (and heads) to make room.
	EvictedProjections, EvictedHeads int
}

// Phase values passed to Checkpoint when the span states its phase.
const (
	PhaseUnknown = iota
	PhaseLive
	PhaseReplay
)

// Checkpoint records that projection under head has reached pos. phase is
// the phase the span reports, PhaseUnknown if none.
// projection is ProjectionKey(head, name).
func (t *Tracker) Checkpoint(head, projection []byte, pos int64, phase int) Checkpoint {
	var c Checkpoint
	if h, ok := t.heads.get(head); ok {
		// A checkpoint past the head means this instance missed appends:
		// the checkpoint itself is the best head we know.
		if pos > *h {
			*h = pos
		}
		c.Behind, c.HaveHead = *h-pos, true
	}
	p, known := t.projections.get(projection)
	if !known {
		c.EvictedProjections = t.projections.put(projection, projectionState{lastPos: pos})
		p, _ = t.projections.get(projection)
		// First sight far behind: a projection starting up or rebuilding.
		p.replay = c.HaveHead && c.Behind > t.replayThreshold
	}
	switch {
	case phase == PhaseReplay:
		p.replay = true
	case phase == PhaseLive:
		p.replay = false
	case known && pos < p.lastPos:
		// The checkpoint moved backwards: the projection was reset.
		p.replay = true
	case p.replay && c.HaveHead && c.Behind <= t.replayThreshold:
		p.replay = false
	}
	// A live projection that falls behind stays live: that is real lag.
	p.lastPos = pos
	c.Replay = p.replay
	return c
}

// Reset records that a projection's checkpoint was reset: it replays from
// the start until it catches up.
func (t *Tracker) Reset(projection []byte) (evicted int) {
	if p, ok := t.projections.get(projection); ok {
		p.replay, p.lastPos = true, 0
		return 0
	}
	return t.projections.put(projection, projectionState{replay: true})
}

// Replaying reports the known phase of a projection.
func (t *Tracker) Replaying(projection []byte) (replay, known bool) {
	p, ok := t.projections.get(projection)
	if !ok {
		return false, false
	}
	return p.replay, true
}

// Tracking reports whether any projection is tracked, so callers can skip
// building keys when none is.
func (t *Tracker) Tracking() bool { return t.projections.len() > 0 }

// Sizes returns the number of heads and projections tracked.
func (t *Tracker) Sizes() (heads, projections int) {
	return t.heads.len(), t.projections.len()
}

// ProjectionKey appends the key of projection name under head to dst.
func ProjectionKey(dst, head []byte, name string) []byte {
	dst = append(dst, head...)
	dst = append(dst, 0xff) // never part of a UTF-8 head key
	return append(dst, name...)
}

// fifo is a bounded map that forgets its oldest-inserted key when full.
type fifo[V any] struct {
	m     map[string]*V
	ring  []string
	head  int
	count int
}

func newFIFO[V any](size int) *fifo[V] {
	if size < 1 {
		size = 1
	}
	return &fifo[V]{m: make(map[string]*V), ring: make([]string, size)}
}

func (f *fifo[V]) get(k []byte) (*V, bool) {
	v, ok := f.m[string(k)]
	return v, ok
}

// put inserts a new key (the caller checked it is absent) and returns how
// many keys were evicted.
func (f *fifo[V]) put(key []byte, v V) (evicted int) {
	k := string(key)
	if f.count == len(f.ring) {
		delete(f.m, f.ring[f.head])
		f.ring[f.head] = ""
		f.head = (f.head + 1) % len(f.ring)
		f.count--
		evicted = 1
	}
	f.ring[(f.head+f.count)%len(f.ring)] = k
	f.count++
	f.m[k] = &v
	return evicted
}

func (f *fifo[V]) len() int { return f.count }
