package cqrsmetricsdrop

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop/internal/metadata"
	"github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop/internal/metadatatest"
)

// appMetrics is what an app instrumented with the eventsource runtime and eventsource-py's Kafka bus sends
// when its runtime metrics are on: the runtime's cqrs.* copies next to the bus's own metrics.
func appMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "orders")
	runtime := rm.ScopeMetrics().AppendEmpty()
	runtime.Scope().SetName("github.com/otelcol-es/otelcol-es/eventsource")
	total := runtime.Metrics().AppendEmpty()
	total.SetName("cqrs.command.total")
	sum := total.SetEmptySum()
	for _, status := range []string{"success", "error"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("command.status", status)
		dp.SetIntValue(3)
	}
	lag := runtime.Metrics().AppendEmpty()
	lag.SetName("cqrs.projection.lag")
	lag.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(4)
	own := runtime.Metrics().AppendEmpty()
	own.SetName("eventsource.outbox.pending") // the runtime's own gauge: kept
	own.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	bus := rm.ScopeMetrics().AppendEmpty()
	bus.Scope().SetName("eventsource.bus.kafka")
	published := bus.Metrics().AppendEmpty()
	published.SetName("kafka.eventbus.messages.published")
	published.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(12)
	// A second resource whose metrics are all derived ones: it goes entirely.
	other := md.ResourceMetrics().AppendEmpty()
	other.Resource().Attributes().PutStr("service.name", "billing")
	q := other.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	q.SetName("cqrs.query.duration")
	q.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetCount(1)
	return md
}

func newTestProcessor(t *testing.T, cfg *Config, next *consumertest.MetricsSink) (*componenttest.Telemetry, func(pmetric.Metrics)) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(tel), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return tel, func(md pmetric.Metrics) { require.NoError(t, p.ConsumeMetrics(context.Background(), md)) }
}

// The derived names go, with the scopes and resources they leave empty; the rest passes untouched; each
// dropped data point is counted.
func TestDropsDerivedMetricsOnly(t *testing.T) {
	sink := &consumertest.MetricsSink{}
	tel, consume := newTestProcessor(t, createDefaultConfig().(*Config), sink)
	consume(appMetrics())

	require.Len(t, sink.AllMetrics(), 1)
	got := sink.AllMetrics()[0]
	require.Equal(t, 1, got.ResourceMetrics().Len(), "the billing resource had only derived metrics")
	rm := got.ResourceMetrics().At(0)
	v, _ := rm.Resource().Attributes().Get("service.name")
	assert.Equal(t, "orders", v.Str())
	var names []string
	for i := range rm.ScopeMetrics().Len() {
		ms := rm.ScopeMetrics().At(i).Metrics()
		for j := range ms.Len() {
			names = append(names, ms.At(j).Name())
		}
	}
	assert.Equal(t, []string{"eventsource.outbox.pending", "kafka.eventbus.messages.published"}, names)
	assert.Equal(t, 2, got.DataPointCount())
	metadatatest.AssertEqualProcessorCqrsmetricsdropDatapointsDropped(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
}

// A batch of nothing but derived metrics goes no further (processorhelper counts it dropped, not sent).
func TestBatchOfDerivedMetricsOnlyStopsHere(t *testing.T) {
	sink := &consumertest.MetricsSink{}
	cfg := &Config{MetricNamePrefixes: []string{"cqrs.", "kafka."}}
	tel, consume := newTestProcessor(t, cfg, sink)
	md := appMetrics()
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().RemoveIf(func(m pmetric.Metric) bool {
		return m.Name() == "eventsource.outbox.pending"
	})
	consume(md)
	assert.Empty(t, sink.AllMetrics())
	metadatatest.AssertEqualProcessorCqrsmetricsdropDatapointsDropped(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 5}}, metricdatatest.IgnoreTimestamp())
}

// Nothing to drop: the batch passes as it came, and nothing is counted.
func TestNothingToDrop(t *testing.T) {
	sink := &consumertest.MetricsSink{}
	tel, consume := newTestProcessor(t, &Config{MetricNamePrefixes: []string{"nomatch."}}, sink)
	consume(appMetrics())
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, appMetrics().DataPointCount(), sink.AllMetrics()[0].DataPointCount())
	_, err := tel.GetMetric("otelcol_processor_cqrsmetricsdrop_datapoints_dropped")
	assert.Error(t, err, "no data point dropped, no series")
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	_, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), f.CreateDefaultConfig(), consumertest.NewNop())
	assert.Error(t, err, "a metrics-only processor")
}
