package spancorpus

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	spanmetricses "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag"
)

var corpusPath = filepath.Join("..", "..", "testdata", "ordinary-instrumentation", "spans.yaml")

// TestOrdinaryInstrumentationIsLeftAlone sends the corpus, one batch per service as their SDKs export,
// through cqrsside → projectionlag → spanmetrics_es with their default configurations, built by their
// factories as the collector builds them: no span gets a side or any other attribute, the connector makes
// no series, and cqrsside's self-telemetry counts every span as unclassified.
func TestOrdinaryInstrumentationIsLeftAlone(t *testing.T) {
	c, err := Load(corpusPath)
	require.NoError(t, err)
	require.GreaterOrEqual(t, c.Len(), 100)

	ctx := context.Background()
	host := componenttest.NewNopHost()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })

	metrics := new(consumertest.MetricsSink)
	cf := spanmetricses.NewFactory()
	conn, err := cf.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(cf.Type()), cf.CreateDefaultConfig(), metrics)
	require.NoError(t, err)
	traces := new(consumertest.TracesSink)
	// The traces pipeline's exporter and the connector both read what projectionlag sends on.
	fanout, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if err := traces.ConsumeTraces(ctx, td); err != nil {
			return err
		}
		return conn.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	lf := projectionlag.NewFactory()
	lag, err := lf.CreateTraces(ctx, processortest.NewNopSettings(lf.Type()), lf.CreateDefaultConfig(), fanout)
	require.NoError(t, err)
	sf := cqrsside.NewFactory()
	set := processortest.NewNopSettings(sf.Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	side, err := sf.CreateTraces(ctx, set, sf.CreateDefaultConfig(), lag)
	require.NoError(t, err)
	pipeline := []component.Component{conn, lag, side}
	for i := range pipeline {
		require.NoError(t, pipeline[len(pipeline)-1-i].Start(ctx, host))
	}

	for _, td := range c.Batches() {
		require.NoError(t, side.ConsumeTraces(ctx, td))
	}
	// Shutting down in pipeline order releases anything held and flushes the connector.
	for _, comp := range []component.Component{side, lag, conn} {
		require.NoError(t, comp.Shutdown(ctx))
	}

	classified := sum(t, tel, "otelcol_processor_cqrsside_spans_classified")
	unclassified := sum(t, tel, "otelcol_processor_cqrsside_spans_unclassified")
	t.Logf("%d ordinary spans: %d classified, %d unclassified (%d message consumers)", c.Len(), classified, unclassified,
		sum(t, tel, "otelcol_processor_cqrsside_spans_unclassified", "receiving_without_evidence"))

	// The processors change what they are sent; Batches builds a fresh copy to compare with.
	want := map[[24]byte]ptrace.Span{}
	for _, td := range c.Batches() {
		forEachSpan(td, func(s ptrace.Span) { want[key(s)] = s })
	}
	require.Equal(t, c.Len(), traces.SpanCount(), "every span passes, once")
	for _, td := range traces.AllTraces() {
		forEachSpan(td, func(got ptrace.Span) {
			w, ok := want[key(got)]
			require.True(t, ok, got.Name())
			assert.Equal(t, w.Attributes().AsRaw(), got.Attributes().AsRaw(), "%s: attributes changed", got.Name())
		})
	}
	assert.Zero(t, metrics.DataPointCount(), "no cqrs.* series from ordinary spans")
	assert.Zero(t, classified)
	assert.Equal(t, int64(c.Len()), unclassified, "cqrsside's self-telemetry shows all of it was left alone")
}

func key(s ptrace.Span) [24]byte {
	var k [24]byte
	tid, sid := s.TraceID(), s.SpanID()
	copy(k[:16], tid[:])
	copy(k[16:], sid[:])
	return k
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				f(sss.At(j).Spans().At(k))
			}
		}
	}
}

// sum adds up a counter's data points (those whose reason is reason, when given); a counter never
// incremented is not reported, so 0.
func sum(t *testing.T, tel *componenttest.Telemetry, name string, reason ...string) int64 {
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	data, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, name)
	var n int64
	for _, dp := range data.DataPoints {
		if r, _ := dp.Attributes.Value("reason"); len(reason) == 0 || r.AsString() == reason[0] {
			n += dp.Value
		}
	}
	return n
}
