// Package series stores the aggregated series of one metric family: the
// counters, histograms, sums or gauges that share one attribute set, so a
// span's key is built once for, e.g., both cqrs.command.total and
// cqrs.command.duration.
//
// Each Store has its own mutex: ConsumeTraces calls that touch different
// families never contend, and a flush holds one family at a time.
package series // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// HistKind selects the histogram a Store keeps for each series.
type HistKind uint8

const (
	// HistNone keeps no histogram (counters, sums, gauges).
	HistNone HistKind = iota
	// HistExplicit keeps explicit-bucket histograms.
	HistExplicit
	// HistExponential keeps base-2 exponential histograms.
	HistExponential
)

// Aggregation selects what a Store does with an observed value.
type Aggregation uint8

const (
	// AggCount counts observations (weighted) and, with a histogram, records values.
	AggCount Aggregation = iota
	// AggSum adds value × weight (e.g. events produced).
	AggSum
	// AggGauge keeps the last value.
	AggGauge
)

// maxOverflowSeries bounds the overflow series of one store: there is one per
// resource, but a flood of new resources beyond this shares the first one.
const maxOverflowSeries = 16

// Options configures a Store.
type Options struct {
	Agg         Aggregation
	Hist        HistKind
	Bounds      []float64 // explicit bucket upper bounds
	ExpoMaxSize int       // exponential: max buckets
	Exemplars   int       // exemplars kept per data point and flush interval
	Limit       int       // regular series; more go to the overflow series
	// OverflowAttr is the attribute key set to true on overflow series.
	OverflowAttr string
}

// Describer fills the attributes of a new series. It is only called when a
// series is created, so attribute maps are never built on the hot path.
type Describer interface {
	Describe(res, attrs pcommon.Map)
}

// Obs is one observation.
type Obs struct {
	Now      pcommon.Timestamp // collector clock, for start times and expiry
	Weight   uint64            // 1, or the adjusted count of a sampled span
	Value    float64
	TraceID  pcommon.TraceID // exemplar, when SpanID is not empty
	SpanID   pcommon.SpanID
	SpanTime pcommon.Timestamp
}

// Result tells the caller what an Observe call did, for telemetry.
type Result uint8

const (
	// Updated an existing series.
	Updated Result = iota
	// Created a new series.
	Created
	// Overflowed: the observation went to an overflow series.
	Overflowed
	// CreatedOverflow: the observation created a new overflow series.
	CreatedOverflow
)

// Store holds the series of one metric family.
type Store struct {
	opts Options

	mu         sync.Mutex
	series     map[string]*Series
	regular    int
	overflows  int
	firstOflow *Series
}

// NewStore returns an empty store.
func NewStore(opts Options) *Store {
	if opts.Limit <= 0 {
		opts.Limit = 1
	}
	return &Store{opts: opts, series: make(map[string]*Series)}
}

// Options returns the store's options.
func (s *Store) Options() Options { return s.opts }

// overflowSuffix never appears at the end of a regular key: regular keys end
// in a length-prefixed or tagged value, never in this byte pair after the
// resource part.
const overflowSuffix = "\xff\xfe"

// Observe records obs into the series with the given key. key[:resLen] is
// the resource part. key is not retained.
func (s *Store) Observe(key []byte, resLen int, d Describer, obs *Obs) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The map lookup with string(key) does not allocate.
	if se, ok := s.series[string(key)]; ok {
		se.record(&s.opts, obs)
		return Updated
	}
	if s.regular < s.opts.Limit {
		se := s.newSeries(string(key), resLen, d, obs.Now, false)
		s.regular++
		se.record(&s.opts, obs)
		return Created
	}
	return s.overflow(key[:resLen], d, obs)
}

func (s *Store) overflow(resKey []byte, d Describer, obs *Obs) Result {
	// Build the overflow key in a stack buffer: the caller's key is not ours
	// to overwrite.
	var arr [128]byte
	ok := append(append(arr[:0], resKey...), overflowSuffix...)
	if se, found := s.series[string(ok)]; found {
		se.record(&s.opts, obs)
		return Overflowed
	}
	if s.overflows >= maxOverflowSeries {
		s.firstOflow.record(&s.opts, obs)
		return Overflowed
	}
	se := s.newSeries(string(ok), len(resKey), d, obs.Now, true)
	s.overflows++
	if s.firstOflow == nil {
		s.firstOflow = se
	}
	se.record(&s.opts, obs)
	return CreatedOverflow
}

func (s *Store) newSeries(k string, resLen int, d Describer, now pcommon.Timestamp, overflow bool) *Series {
	se := &Series{
		Key:      k,
		ResKey:   k[:resLen],
		Res:      pcommon.NewMap(),
		Attrs:    pcommon.NewMap(),
		Overflow: overflow,
		Start:    now,
	}
	d.Describe(se.Res, se.Attrs)
	if overflow {
		se.Attrs.Clear()
		se.Attrs.PutBool(s.opts.OverflowAttr, true)
	}
	switch s.opts.Hist {
	case HistExplicit:
		se.Buckets = make([]uint64, len(s.opts.Bounds)+1)
	case HistExponential:
		se.Expo = newExpo(s.opts.ExpoMaxSize)
	}
	if s.opts.Exemplars > 0 {
		se.ex = make([]Exemplar, 0, s.opts.Exemplars)
	}
	s.series[k] = se
	return se
}

// Len is the number of series held, overflow series included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.series)
}

// FlushOptions controls a flush.
type FlushOptions struct {
	Now        pcommon.Timestamp
	Cumulative bool
	// Expiry: series not updated for this long are emitted one last time if
	// they hold unflushed data, then dropped.
	Expiry uint64 // nanoseconds
}

// Flush calls emit for every series that has something to report: all live
// series with cumulative temporality, the ones updated since the last flush
// with delta temporality (gauges: all live series). It then resets delta
// state and drops expired series, returning how many it dropped.
func (s *Store) Flush(fo FlushOptions, emit func(*Series)) (expired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.series {
		if fo.Cumulative || se.dirty || s.opts.Agg == AggGauge {
			emit(se)
		}
		se.dirty = false
		se.ex = se.ex[:0]
		se.exNext = 0
		if !fo.Cumulative && s.opts.Agg != AggGauge {
			se.resetDelta(fo.Now)
		}
		if uint64(fo.Now) > uint64(se.Updated) && uint64(fo.Now)-uint64(se.Updated) > fo.Expiry {
			delete(s.series, k)
			expired++
			if se.Overflow {
				s.overflows--
				if s.firstOflow == se {
					s.firstOflow = nil
					for _, o := range s.series {
						if o.Overflow {
							s.firstOflow = o
							break
						}
					}
				}
			} else {
				s.regular--
			}
		}
	}
	return expired
}
