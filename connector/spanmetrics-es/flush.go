package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// familyMetrics are the metrics of one family under one resource.
type familyMetrics struct {
	counter, hist, gauge pmetric.Metric
}

// flushScratch holds the lookup maps of a flush; they are cleared and
// reused, only the pmetric.Metrics handed to consumers are new each time.
type flushScratch struct {
	outs      []pmetric.Metrics
	scopes    []map[string]pmetric.ScopeMetrics // per route: resource key -> scope
	perFamily map[string]familyMetrics          // resource key -> metrics of the family being flushed
	stateMs   map[string]pmetric.Metric
}

func (c *spanMetricsConnector) scope(fs *flushScratch, route int, resKey string, res pcommon.Map) pmetric.ScopeMetrics {
	if sm, ok := fs.scopes[route][resKey]; ok {
		return sm
	}
	if fs.outs[route] == (pmetric.Metrics{}) {
		fs.outs[route] = pmetric.NewMetrics()
	}
	rm := fs.outs[route].ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(spanmetricses.ScopeName)
	fs.scopes[route][resKey] = sm
	return sm
}

func (c *spanMetricsConnector) newFamilyMetrics(sm pmetric.ScopeMetrics, def *familyDef, temporality pmetric.AggregationTemporality) familyMetrics {
	var fm familyMetrics
	ms := sm.Metrics()
	if def.counter != "" {
		fm.counter = ms.AppendEmpty()
		fm.counter.SetName(def.counter)
		fm.counter.SetDescription(def.counterDesc)
		fm.counter.SetUnit(def.counterUnit)
		sum := fm.counter.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(temporality)
	}
	if def.hist != "" {
		fm.hist = ms.AppendEmpty()
		fm.hist.SetName(def.hist)
		fm.hist.SetDescription(def.histDesc)
		fm.hist.SetUnit(def.histUnit)
		if def.msHist && c.cfg.Histogram.Exponential != nil {
			fm.hist.SetEmptyExponentialHistogram().SetAggregationTemporality(temporality)
		} else {
			fm.hist.SetEmptyHistogram().SetAggregationTemporality(temporality)
		}
	}
	if def.gauge != "" {
		fm.gauge = ms.AppendEmpty()
		fm.gauge.SetName(def.gauge)
		fm.gauge.SetDescription(def.gaugeDesc)
		fm.gauge.SetUnit(def.gaugeUnit)
		fm.gauge.SetEmptyGauge()
	}
	return fm
}

// flush emits every route's metrics and expires stale series. Flushes are
// serialised; each store is locked only while its own series are copied.
func (c *spanMetricsConnector) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	now, ts := c.nowTS()
	fs := &c.flushScratch
	if fs.scopes == nil {
		fs.scopes = make([]map[string]pmetric.ScopeMetrics, len(c.routes))
		for i := range fs.scopes {
			fs.scopes[i] = make(map[string]pmetric.ScopeMetrics)
		}
		fs.outs = make([]pmetric.Metrics, len(c.routes))
		fs.perFamily = make(map[string]familyMetrics)
		fs.stateMs = make(map[string]pmetric.Metric)
	}
	for i := range fs.scopes {
		clear(fs.scopes[i])
		fs.outs[i] = pmetric.Metrics{}
	}
	cumulative := c.cfg.cumulative()
	temporality := pmetric.AggregationTemporalityDelta
	if cumulative {
		temporality = pmetric.AggregationTemporalityCumulative
	}
	fo := series.FlushOptions{Now: ts, Cumulative: cumulative, Expiry: uint64(c.cfg.SeriesExpiry)}

	var expired int64
	for f := range numFamilies {
		def := &families[f]
		route := c.outputs[def.side]
		clear(fs.perFamily)
		bounds := c.stores[f].Options().Bounds
		n := c.stores[f].Flush(fo, func(se *series.Series) {
			fm, ok := fs.perFamily[se.ResKey]
			if !ok {
				fm = c.newFamilyMetrics(c.scope(fs, route, se.ResKey, se.Res), def, temporality)
				fs.perFamily[se.ResKey] = fm
			}
			if def.counter != "" {
				dp := fm.counter.Sum().DataPoints().AppendEmpty()
				se.Attrs.CopyTo(dp.Attributes())
				dp.SetStartTimestamp(se.Start)
				dp.SetTimestamp(ts)
				if def.agg == series.AggSum {
					dp.SetIntValue(se.IntValue())
				} else {
					dp.SetIntValue(int64(se.Count))
				}
			}
			if def.hist != "" {
				if fm.hist.Type() == pmetric.MetricTypeExponentialHistogram {
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
			if def.gauge != "" {
				dp := fm.gauge.Gauge().DataPoints().AppendEmpty()
				se.Attrs.CopyTo(dp.Attributes())
				dp.SetTimestamp(ts)
				dp.SetIntValue(se.IntValue())
			}
		})
		expired += int64(n)
	}

	clear(fs.stateMs)
	route := c.outputs[sideProjection]
	expired += int64(c.projStates.Flush(now, c.cfg.SeriesExpiry, func(resKey string, res, attrs pcommon.Map, st state.State) {
		m, ok := fs.stateMs[resKey]
		if !ok {
			m = c.scope(fs, route, resKey, res).Metrics().AppendEmpty()
			m.SetName(semconv.MetricProjectionState)
			m.SetDescription(stateDesc)
			m.SetUnit(unitOne)
			m.SetEmptyGauge()
			fs.stateMs[resKey] = m
		}
		for _, s := range state.All {
			dp := m.Gauge().DataPoints().AppendEmpty()
			attrs.CopyTo(dp.Attributes())
			dp.Attributes().PutStr(semconv.MetricAttrState, s.String())
			dp.SetTimestamp(ts)
			if s == st {
				dp.SetIntValue(1)
			}
		}
	}))
	if expired > 0 {
		c.tel.ConnectorSpanmetricsEsExpiredSeries.Add(ctx, expired)
		c.tel.ConnectorSpanmetricsEsActiveSeries.Add(ctx, -expired)
	}

	var errs []error
	for r, md := range fs.outs {
		if md == (pmetric.Metrics{}) || md.DataPointCount() == 0 {
			continue
		}
		if err := c.routes[r].ConsumeMetrics(ctx, md); err != nil {
			errs = append(errs, err)
		}
		fs.outs[r] = pmetric.Metrics{}
	}
	return errors.Join(errs...)
}
