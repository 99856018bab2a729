package series

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Metrics names what one family emits; an empty name emits nothing.
type Metrics struct {
	// Counter is a monotonic int sum of the series' count (AggCount) or
	// value (AggSum).
	Counter, CounterDesc, CounterUnit string
	// Hist is the histogram of the recorded values; Exponential picks the
	// base-2 exponential kind over explicit buckets.
	Hist, HistDesc, HistUnit string
	Exponential              bool
	// Gauge is an int gauge of the last value (AggGauge).
	Gauge, GaugeDesc, GaugeUnit string
}

// familyMetrics are the metrics of one family under one resource.
type familyMetrics struct {
	counter, hist, gauge pmetric.Metric
}

// Writer builds the pdata of one flush: one pmetric.Metrics per route, one
// ResourceMetrics per route and resource. Its lookup maps are reused from
// flush to flush; only the Metrics it hands out are new. Not safe for
// concurrent use: flushes are serialised by the caller.
type Writer struct {
	scopeName   string
	ts          pcommon.Timestamp
	temporality pmetric.AggregationTemporality

	outs      []pmetric.Metrics
	scopes    []map[string]pmetric.ScopeMetrics // per route: resource key -> scope
	perFamily map[string]familyMetrics          // resource key -> metrics of the family being written
	gauges    map[string]pmetric.Metric         // resource key -> the state gauge being written
}

// NewWriter returns a writer for routes outputs whose scope is scopeName.
func NewWriter(routes int, scopeName string) *Writer {
	w := &Writer{
		scopeName: scopeName,
		outs:      make([]pmetric.Metrics, routes),
		scopes:    make([]map[string]pmetric.ScopeMetrics, routes),
		perFamily: make(map[string]familyMetrics),
		gauges:    make(map[string]pmetric.Metric),
	}
	for i := range w.scopes {
		w.scopes[i] = make(map[string]pmetric.ScopeMetrics)
	}
	return w
}

// Begin starts a flush at ts; cumulative picks the temporality of sums and
// histograms.
func (w *Writer) Begin(ts pcommon.Timestamp, cumulative bool) {
	w.ts = ts
	w.temporality = pmetric.AggregationTemporalityDelta
	if cumulative {
		w.temporality = pmetric.AggregationTemporalityCumulative
	}
	for i := range w.scopes {
		clear(w.scopes[i])
		w.outs[i] = pmetric.Metrics{}
	}
}

// Take hands out route's metrics (zero when it has none) and forgets them.
func (w *Writer) Take(route int) pmetric.Metrics {
	md := w.outs[route]
	w.outs[route] = pmetric.Metrics{}
	return md
}

func (w *Writer) scope(route int, resKey string, res pcommon.Map) pmetric.ScopeMetrics {
	if sm, ok := w.scopes[route][resKey]; ok {
		return sm
	}
	if w.outs[route] == (pmetric.Metrics{}) {
		w.outs[route] = pmetric.NewMetrics()
	}
	rm := w.outs[route].ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(w.scopeName)
	w.scopes[route][resKey] = sm
	return sm
}

func (w *Writer) newFamilyMetrics(sm pmetric.ScopeMetrics, def *Metrics) familyMetrics {
	var fm familyMetrics
	ms := sm.Metrics()
	if def.Counter != "" {
		fm.counter = ms.AppendEmpty()
		fm.counter.SetName(def.Counter)
		fm.counter.SetDescription(def.CounterDesc)
		fm.counter.SetUnit(def.CounterUnit)
		sum := fm.counter.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(w.temporality)
	}
	if def.Hist != "" {
		fm.hist = ms.AppendEmpty()
		fm.hist.SetName(def.Hist)
		fm.hist.SetDescription(def.HistDesc)
		fm.hist.SetUnit(def.HistUnit)
		if def.Exponential {
			fm.hist.SetEmptyExponentialHistogram().SetAggregationTemporality(w.temporality)
		} else {
			fm.hist.SetEmptyHistogram().SetAggregationTemporality(w.temporality)
		}
	}
	if def.Gauge != "" {
		fm.gauge = ms.AppendEmpty()
		fm.gauge.SetName(def.Gauge)
		fm.gauge.SetDescription(def.GaugeDesc)
		fm.gauge.SetUnit(def.GaugeUnit)
		fm.gauge.SetEmptyGauge()
	}
	return fm
}

// WriteStore flushes s (see Store.Flush) into route as def's metrics and
// returns how many series expired.
func (w *Writer) WriteStore(route int, def *Metrics, s *Store, fo FlushOptions) (expired int) {
	clear(w.perFamily)
	bounds := s.opts.Bounds
	agg := s.opts.Agg
	ts := w.ts
	return s.Flush(fo, func(se *Series) {
		fm, ok := w.perFamily[se.ResKey]
		if !ok {
			fm = w.newFamilyMetrics(w.scope(route, se.ResKey, se.Res), def)
			w.perFamily[se.ResKey] = fm
		}
		if def.Counter != "" {
			dp := fm.counter.Sum().DataPoints().AppendEmpty()
			se.Attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(se.Start)
			dp.SetTimestamp(ts)
			if agg == AggSum {
				dp.SetIntValue(se.IntValue())
			} else {
				dp.SetIntValue(int64(se.Count))
			}
		}
		if def.Hist != "" {
			if def.Exponential {
				dp := fm.hist.ExponentialHistogram().DataPoints().AppendEmpty()
				se.Attrs.CopyTo(dp.Attributes())
				dp.SetStartTimestamp(se.Start)
				dp.SetTimestamp(ts)
				se.WriteExponential(dp)
			} else {
				dp := fm.hist.Histogram().DataPoints().AppendEmpty()
				se.Attrs.CopyTo(dp.Attributes())
				dp.SetStartTimestamp(se.Start)
				dp.SetTimestamp(ts)
				se.WriteHistogram(dp, bounds)
			}
		}
		if def.Gauge != "" {
			dp := fm.gauge.Gauge().DataPoints().AppendEmpty()
			se.Attrs.CopyTo(dp.Attributes())
			dp.SetTimestamp(ts)
			dp.SetIntValue(se.IntValue())
		}
	})
}

// StateGauge is an int gauge with one data point per state: 1 for the
// current state, 0 for the others.
type StateGauge struct {
	Name, Desc, Unit string
	// AttrKey carries the state's name; States lists them all, in order.
	AttrKey string
	States  []string
}

// BeginStates starts writing a StateGauge (one metric per resource).
func (w *Writer) BeginStates() { clear(w.gauges) }

// WriteState adds g's points for one tracked entity under res into route;
// current indexes g.States.
func (w *Writer) WriteState(route int, g *StateGauge, resKey string, res, attrs pcommon.Map, current int) {
	m, ok := w.gauges[resKey]
	if !ok {
		m = w.scope(route, resKey, res).Metrics().AppendEmpty()
		m.SetName(g.Name)
		m.SetDescription(g.Desc)
		m.SetUnit(g.Unit)
		m.SetEmptyGauge()
		w.gauges[resKey] = m
	}
	for i, s := range g.States {
		dp := m.Gauge().DataPoints().AppendEmpty()
		attrs.CopyTo(dp.Attributes())
		dp.Attributes().PutStr(g.AttrKey, s)
		dp.SetTimestamp(w.ts)
		if i == current {
			dp.SetIntValue(1)
		}
	}
}
