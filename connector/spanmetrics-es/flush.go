package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
)

// flush emits every route's metrics and expires stale series. Flushes are
// serialised; each store is locked only while its own series are written.
// A refused route is counted (flush_failures, data_points_dropped) and its
// error returned; the other routes are still sent.
func (c *spanMetricsConnector) flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	now, ts := c.nowTS()
	w := c.writer
	cumulative := c.cfg.cumulative()
	w.Begin(ts, cumulative)
	fo := series.FlushOptions{Now: ts, Cumulative: cumulative, Expiry: uint64(c.cfg.SeriesExpiry)}

	var expired int64
	for f := range numFamilies {
		expired += int64(w.WriteStore(c.outputs[families[f].side], &c.metricDefs[f], c.stores[f], fo))
	}
	w.BeginStates()
	route := c.outputs[sideProjection]
	expired += int64(c.projStates.Flush(now, c.cfg.SeriesExpiry, func(resKey string, res, attrs pcommon.Map, st state.State) {
		w.WriteState(route, &stateGauge, resKey, res, attrs, int(st))
	}))
	if expired > 0 {
		c.tel.ConnectorSpanmetricsEsExpiredSeries.Add(ctx, expired)
		c.tel.ConnectorSpanmetricsEsActiveSeries.Add(ctx, -expired)
	}

	var errs []error
	for r := range c.routes {
		md := w.Take(r)
		if md == (pmetric.Metrics{}) || md.DataPointCount() == 0 {
			continue
		}
		// Counted before the call: a consumer may take the data over.
		n := md.DataPointCount()
		if err := c.routes[r].ConsumeMetrics(ctx, md); err != nil {
			c.tel.ConnectorSpanmetricsEsFlushFailures.Add(ctx, 1)
			c.tel.ConnectorSpanmetricsEsDataPointsDropped.Add(ctx, int64(n), c.droppedOpt(err))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
