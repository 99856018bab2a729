package series

import (
	"math"
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Exemplar links a data point to one span.
type Exemplar struct {
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	Value   float64
	Time    pcommon.Timestamp
}

// Series is one aggregated attribute set. Its fields are only read under
// the owning Store's lock (inside Flush's emit callback).
type Series struct {
	Key      string
	ResKey   string // Key[:resLen]: shares Key's memory
	Res      pcommon.Map
	Attrs    pcommon.Map
	Overflow bool

	Start   pcommon.Timestamp // cumulative: creation; delta: previous flush
	Updated pcommon.Timestamp // last observation (collector clock)
	dirty   bool

	Count    uint64  // weighted number of observations
	Sum      float64 // histogram sum
	Value    float64 // AggSum total or AggGauge last value
	Min, Max float64
	Buckets  []uint64
	Expo     *Expo

	ex     []Exemplar
	exNext int
}

func (se *Series) record(o *Options, obs *Obs) {
	se.Updated = obs.Now
	se.dirty = true
	switch o.Agg {
	case AggGauge:
		se.Value = obs.Value
		se.Count++
		return
	case AggSum:
		se.Value += obs.Value * float64(obs.Weight)
		se.Count += obs.Weight
		return
	}
	if se.Count == 0 || obs.Value < se.Min {
		se.Min = obs.Value
	}
	if se.Count == 0 || obs.Value > se.Max {
		se.Max = obs.Value
	}
	se.Count += obs.Weight
	switch o.Hist {
	case HistExplicit:
		se.Sum += obs.Value * float64(obs.Weight)
		// Bounds are upper-inclusive, as in OTLP.
		se.Buckets[sort.SearchFloat64s(o.Bounds, obs.Value)] += obs.Weight
	case HistExponential:
		se.Sum += obs.Value * float64(obs.Weight)
		se.Expo.Record(obs.Value, obs.Weight)
	}
	if cap(se.ex) > 0 && !obs.SpanID.IsEmpty() {
		e := Exemplar{TraceID: obs.TraceID, SpanID: obs.SpanID, Value: obs.Value, Time: obs.SpanTime}
		// Keep the newest exemplars: a ring over the preallocated slice.
		if len(se.ex) < cap(se.ex) {
			se.ex = append(se.ex, e)
		} else {
			se.ex[se.exNext] = e
			se.exNext = (se.exNext + 1) % len(se.ex)
		}
	}
}

// resetDelta starts a new delta interval; it is never called for gauges.
func (se *Series) resetDelta(now pcommon.Timestamp) {
	se.Start = now
	se.Count = 0
	se.Sum = 0
	se.Min, se.Max = 0, 0
	se.Value = 0
	for i := range se.Buckets {
		se.Buckets[i] = 0
	}
	if se.Expo != nil {
		se.Expo.Reset()
	}
}

// WriteHistogram fills an explicit-bucket data point.
func (se *Series) WriteHistogram(dp pmetric.HistogramDataPoint, bounds []float64) {
	dp.SetCount(se.Count)
	dp.SetSum(se.Sum)
	if se.Count > 0 {
		dp.SetMin(se.Min)
		dp.SetMax(se.Max)
	}
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(se.Buckets)
	se.writeExemplars(dp.Exemplars())
}

// WriteExponential fills an exponential histogram data point.
func (se *Series) WriteExponential(dp pmetric.ExponentialHistogramDataPoint) {
	dp.SetCount(se.Count)
	dp.SetSum(se.Sum)
	if se.Count > 0 {
		dp.SetMin(se.Min)
		dp.SetMax(se.Max)
	}
	se.Expo.write(dp)
	se.writeExemplars(dp.Exemplars())
}

func (se *Series) writeExemplars(es pmetric.ExemplarSlice) {
	if len(se.ex) == 0 {
		return
	}
	es.EnsureCapacity(len(se.ex))
	for i := range se.ex {
		e := &se.ex[i]
		pe := es.AppendEmpty()
		pe.SetTraceID(e.TraceID)
		pe.SetSpanID(e.SpanID)
		pe.SetDoubleValue(e.Value)
		pe.SetTimestamp(e.Time)
	}
}

// IntValue is Value rounded for int sums and gauges.
func (se *Series) IntValue() int64 { return int64(math.Round(se.Value)) }
