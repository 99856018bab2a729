package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import "strings"

// The producer table (a ringmap.Map[joinKey, joinEntry]) remembers the
// write-side spans a projection span may link to, and the projection-side
// spans that relay an event from a publish span to an apply span, keyed by
// (trace id, span id), for link.ttl. Entries are ids and times only, so the
// table's memory is fixed by link.max_producers.

// joinKey identifies a span: trace id followed by span id.
type joinKey [24]byte

// newJoinKey builds a joinKey from a trace id and a span id.
func newJoinKey(traceID [16]byte, spanID [8]byte) joinKey {
	var k joinKey
	copy(k[:16], traceID[:])
	copy(k[16:], spanID[:])
	return k
}

// withSpan returns the key of another span in the same trace.
func (k joinKey) withSpan(spanID [8]byte) joinKey {
	copy(k[16:], spanID[:])
	return k
}

// entryKind tells producers from relays.
type entryKind uint8

const (
	// kindProducer is a write-side span: lag is measured from its end.
	kindProducer entryKind = iota + 1
	// kindRelay is a projection-side span (consume, dispatch, handle) that sits
	// between a publish span and the apply span; the walk continues at its parent.
	kindRelay
	// kindDeadEnd is a span something waited on that turned out to be neither:
	// the walk stops there.
	kindDeadEnd
)

// joinEntry is what the table keeps per span: ids and times only.
type joinEntry struct {
	Parent [8]byte
	// Start and End are unix nanoseconds.
	Start, End int64
	// Command is an interned command type (0: the span is not a command span).
	Command uint32
	Kind    entryKind
}

// interner gives each distinct command type a small id, so table entries
// stay fixed-size and never keep a request buffer alive through a string
// that aliases it. The table is bounded; past the limit new types get 0.
type interner struct {
	limit int
	ids   map[string]uint32
	names []string
}

// newInterner returns an interner holding at most limit names.
func newInterner(limit int) *interner {
	return &interner{limit: limit, ids: make(map[string]uint32), names: []string{""}}
}

// id returns the id of name, interning it if there is room. ok is false
// when the table is full and name was not in it.
func (in *interner) id(name string) (id uint32, ok bool) {
	if id, found := in.ids[name]; found {
		return id, true
	}
	if len(in.names)-1 >= in.limit {
		return 0, false
	}
	c := strings.Clone(name)
	id = uint32(len(in.names))
	in.names = append(in.names, c)
	in.ids[c] = id
	return id, true
}

// name returns the name interned as id ("" for 0 or unknown ids).
func (in *interner) name(id uint32) string {
	if int(id) >= len(in.names) {
		return ""
	}
	return in.names[id]
}
