package join

// Climb carries the event counts of write spans (appends, repository saves)
// up their parent chains to the command above each, through one batch and,
// given a ProducedStore, across batches: a count whose chain leaves the batch
// waits in the store under the next span's key and goes on when that span
// arrives (an SDK exports children first, so a write often reaches the
// collector a batch before its command). projectionlag climbs with its
// engine's Tx; the connector, without an engine, climbs within the batch.
//
// A Climb is one batch's scratch, reused: Reset, then Span for every span of
// the batch and Write for each write that stored events, then Run. Span only
// appends: the index of the batch's spans is built by Run, so a batch with
// nothing to climb (most batches of a read-heavy app) costs no more.
type Climb struct {
	nodes  []climbNode
	index  batchIndex[Key]
	writes []climbWrite
}

// ClimbKind tells what a span is to a count climbing through it.
type ClimbKind uint8

const (
	// Passing: counts go on to the span's parent.
	Passing ClimbKind = iota
	// Collecting: a command span; counts that reach it stop there (read them
	// with Produced).
	Collecting
	// Covering: a write above another write names the same events itself,
	// so counts from beneath stop there, uncounted.
	Covering
)

type climbNode struct {
	key    Key
	parent [8]byte
	kind   ClimbKind
	// shadowed: an earlier node of the batch has the same key and stands for it.
	shadowed bool
	produced int64
}

type climbWrite struct {
	parent Key
	n      int64
}

// ProducedStore keeps the counts whose chain left a batch (Tx implements it).
type ProducedStore interface {
	AddProduced(key Key, n int64)
	TakeProduced(key Key) (int64, bool)
	HasProduced() bool
}

// Reset empties the climb for the next batch.
func (c *Climb) Reset() {
	c.nodes = c.nodes[:0]
	c.index.reset()
	c.writes = c.writes[:0]
	if cap(c.nodes) > maxKeptLen {
		c.nodes = nil // after an unusually large batch
	}
}

// maxKeptLen is the largest batch whose buffers a reused Climb keeps.
const maxKeptLen = 1 << 16

// Write notes a span that stored n events; its count starts at its parent.
func (c *Climb) Write(span Key, parent [8]byte, n int64) {
	if n > 0 {
		c.writes = append(c.writes, climbWrite{parent: span.WithSpan(parent), n: n})
	}
}

// Needed reports whether Run has anything to do: a write in this batch, or a
// count waiting in store. Spans need not be added otherwise.
func (c *Climb) Needed(store ProducedStore) bool {
	return len(c.writes) > 0 || store != nil && store.HasProduced()
}

// Span adds a span of the batch and returns its index for Produced. A span id
// seen twice keeps its first node.
func (c *Climb) Span(key Key, parent [8]byte, kind ClimbKind) int32 {
	c.nodes = append(c.nodes, climbNode{key: key, parent: parent, kind: kind})
	return int32(len(c.nodes) - 1)
}

// Run climbs every write's count, and every count waiting in store for a span
// of this batch, at most maxDepth spans up. store may be nil: counts leaving
// the batch are then dropped.
func (c *Climb) Run(store ProducedStore, maxDepth int) {
	c.index.hash = keyHash
	c.index.reserve(len(c.nodes))
	for i := range c.nodes {
		k := c.nodes[i].key
		c.nodes[i].shadowed = !c.index.insert(k, keyHash(k), int32(i))
	}
	for _, w := range c.writes {
		c.climb(store, w.parent, w.n, maxDepth)
	}
	if store == nil || !store.HasProduced() {
		return
	}
	for i := range c.nodes {
		if c.nodes[i].shadowed {
			continue
		}
		if n, ok := store.TakeProduced(c.nodes[i].key); ok {
			c.deliver(store, int32(i), n, maxDepth)
		}
	}
}

// Produced is the count that reached the span at index i (a Collecting span).
func (c *Climb) Produced(i int32) int64 { return c.nodes[i].produced }

// climb takes n events up from the span k to their command; where the chain
// leaves the batch, they wait in store for the next span. This is the only
// walk up a chain for event counts.
func (c *Climb) climb(store ProducedStore, k Key, n int64, maxDepth int) {
	for range maxDepth {
		if k.SpanID() == [8]byte{} {
			return // a root without a command: no command to count them for
		}
		i, ok := c.index.find(k, keyHash(k))
		if !ok {
			if store != nil {
				store.AddProduced(k, n)
			}
			return
		}
		if c.nodes[i].kind != Passing {
			c.deliver(store, i, n, maxDepth)
			return
		}
		k = k.WithSpan(c.nodes[i].parent)
	}
}

// deliver hands n events to the span at i: a command keeps them, a covering
// write drops them, anything else passes them on to its parent.
func (c *Climb) deliver(store ProducedStore, i int32, n int64, maxDepth int) {
	nd := &c.nodes[i]
	switch nd.kind {
	case Collecting:
		nd.produced += n
	case Covering:
	default:
		c.climb(store, nd.key.WithSpan(nd.parent), n, maxDepth)
	}
}
