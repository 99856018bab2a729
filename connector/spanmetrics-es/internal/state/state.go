// Package state judges each projection's health from its checkpoint
// samples, in the spirit of Kafka's Burrow consumer-lag evaluator.
//
// A sample is taken from every checkpoint span: the checkpoint position and
// the positions behind the head (set by projectionlag). Over the samples of
// the last Window (at most MaxSamples, oldest first), in this order:
//
//  1. stopped — no sample for longer than Window.
//  2. ok      — the newest sample has nothing behind (positions_behind = 0).
//  3. ok      — fewer than MinSamples samples: not enough evidence.
//  4. stalled — every sample carries a position, the position never moved,
//     and the projection was behind in every sample: it commits without
//     making progress.
//  5. lagging — the projection was behind in every sample and positions
//     behind never shrank from one sample to the next (it advances, if at
//     all, no faster than events arrive).
//  6. ok      — otherwise (the lag shrank at least once).
package state // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// State of a projection.
type State uint8

// States, in the order they are emitted.
const (
	OK State = iota
	Lagging
	Stalled
	Stopped
	numStates
)

// All lists every state, for emitting one data point per state.
var All = [numStates]State{OK, Lagging, Stalled, Stopped}

func (s State) String() string {
	switch s {
	case Lagging:
		return semconv.StateLagging
	case Stalled:
		return semconv.StateStalled
	case Stopped:
		return semconv.StateStopped
	default:
		return semconv.StateOK
	}
}

// Sample is one checkpoint observation.
type Sample struct {
	At     time.Time
	Behind int64
	Pos    int64
	HasPos bool
}

// Rules parameterise Evaluate.
type Rules struct {
	Window     time.Duration
	MinSamples int
	MaxSamples int
}

// Evaluate applies the package rules to samples (oldest first) at now.
func Evaluate(samples []Sample, now time.Time, r Rules) State {
	// Only samples inside the window count.
	first := 0
	for first < len(samples) && now.Sub(samples[first].At) > r.Window {
		first++
	}
	w := samples[first:]
	if len(w) == 0 {
		return Stopped
	}
	if w[len(w)-1].Behind <= 0 {
		return OK
	}
	if len(w) < r.MinSamples {
		return OK
	}
	allPos, posMoved := true, false
	neverShrank, alwaysBehind := true, true
	for i, s := range w {
		if !s.HasPos {
			allPos = false
		}
		if s.Behind <= 0 {
			alwaysBehind = false
		}
		if i > 0 {
			if s.HasPos && w[i-1].HasPos && s.Pos != w[i-1].Pos {
				posMoved = true
			}
			if s.Behind < w[i-1].Behind {
				neverShrank = false
			}
		}
	}
	switch {
	case allPos && !posMoved && alwaysBehind:
		return Stalled
	case alwaysBehind && neverShrank:
		return Lagging
	default:
		return OK
	}
}

type entry struct {
	resKey  string
	res     pcommon.Map
	attrs   pcommon.Map
	samples []Sample // ring, oldest at head once full
	head    int
	last    time.Time
	ordered []Sample
}

func (e *entry) add(s Sample) {
	if len(e.samples) < cap(e.samples) {
		e.samples = append(e.samples, s)
	} else {
		e.samples[e.head] = s
		e.head = (e.head + 1) % len(e.samples)
	}
	e.last = s.At
}

func (e *entry) inOrder() []Sample {
	e.ordered = append(e.ordered[:0], e.samples[e.head:]...)
	e.ordered = append(e.ordered, e.samples[:e.head]...)
	return e.ordered
}

// Tracker keeps the samples of a bounded number of projections.
type Tracker struct {
	rules Rules
	limit int

	mu      sync.Mutex
	entries map[string]*entry
}

// NewTracker returns a tracker of at most limit projections.
func NewTracker(r Rules, limit int) *Tracker {
	if r.MaxSamples < 2 {
		r.MaxSamples = 2
	}
	return &Tracker{rules: r, limit: limit, entries: make(map[string]*entry)}
}

// Observe adds a sample to the projection with the given key. It returns
// created when a projection was first seen and dropped when the tracker is
// full and the sample was ignored.
func (t *Tracker) Observe(key []byte, resLen int, d series.Describer, s Sample) (created, dropped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[string(key)]
	if !ok {
		if len(t.entries) >= t.limit {
			return false, true
		}
		k := string(key)
		e = &entry{resKey: k[:resLen], res: pcommon.NewMap(), attrs: pcommon.NewMap(), samples: make([]Sample, 0, t.rules.MaxSamples)}
		d.Describe(e.res, e.attrs)
		t.entries[k] = e
		created = true
	}
	e.add(s)
	return created, false
}

// Len is the number of projections tracked.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Flush evaluates every projection at now and calls emit with its state.
// Projections without a sample for longer than Window+expiry are dropped
// after being reported stopped; Flush returns how many.
func (t *Tracker) Flush(now time.Time, expiry time.Duration, emit func(resKey string, res, attrs pcommon.Map, st State)) (expired int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.entries {
		st := Evaluate(e.inOrder(), now, t.rules)
		emit(e.resKey, e.res, e.attrs, st)
		if now.Sub(e.last) > t.rules.Window+expiry {
			delete(t.entries, k)
			expired++
		}
	}
	return expired
}
