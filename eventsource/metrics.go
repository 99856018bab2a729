package eventsource

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// cqrsMetrics are the cqrs.* instruments; nil fields mean metrics are off.
type cqrsMetrics struct {
	commandDuration metric.Float64Histogram
	commandTotal    metric.Int64Counter
	eventsProduced  metric.Int64Counter
	queryDuration   metric.Float64Histogram
	queryTotal      metric.Int64Counter
	queryResultSize metric.Int64Histogram
	projectionLag   metric.Float64Histogram
}

// Instrument creation errors only happen with invalid names, which are
// constants here, so they are ignored and the instrument is left nil-safe
// by the SDK's no-op fallbacks.

func newWriteMetrics(mp metric.MeterProvider) *cqrsMetrics {
	if mp == nil {
		return nil
	}
	m := mp.Meter(semconv.ScopeWrite)
	var s cqrsMetrics
	s.commandDuration, _ = m.Float64Histogram(semconv.MetricCommandDuration,
		metric.WithDescription("Time to process a command"), metric.WithUnit(semconv.UnitMilliseconds))
	s.commandTotal, _ = m.Int64Counter(semconv.MetricCommandTotal,
		metric.WithDescription("Total commands processed"), metric.WithUnit(semconv.UnitOne))
	s.eventsProduced, _ = m.Int64Counter(semconv.MetricEventsProduced,
		metric.WithDescription("Total domain events produced"), metric.WithUnit(semconv.UnitOne))
	return &s
}

func newReadMetrics(mp metric.MeterProvider) *cqrsMetrics {
	if mp == nil {
		return nil
	}
	m := mp.Meter(semconv.ScopeRead)
	var s cqrsMetrics
	s.queryDuration, _ = m.Float64Histogram(semconv.MetricQueryDuration,
		metric.WithDescription("Time to execute a query"), metric.WithUnit(semconv.UnitMilliseconds))
	s.queryTotal, _ = m.Int64Counter(semconv.MetricQueryTotal,
		metric.WithDescription("Total queries executed"), metric.WithUnit(semconv.UnitOne))
	s.queryResultSize, _ = m.Int64Histogram(semconv.MetricQueryResultSize,
		metric.WithDescription("Number of items returned by queries"), metric.WithUnit(semconv.UnitOne))
	return &s
}

func newProjectionMetrics(mp metric.MeterProvider) *cqrsMetrics {
	if mp == nil {
		return nil
	}
	m := mp.Meter(semconv.ScopeProjection)
	var s cqrsMetrics
	s.projectionLag, _ = m.Float64Histogram(semconv.MetricProjectionLag,
		metric.WithDescription("Time between event creation and projection update"), metric.WithUnit(semconv.UnitMilliseconds))
	return &s
}
