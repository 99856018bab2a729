package spancorpus

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-es/otelcol-es/internal/pipelinetest"
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
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })
	p := pipelinetest.New(t, pipelinetest.Options{Telemetry: tel})
	for _, td := range c.Batches() {
		require.NoError(t, p.In.ConsumeTraces(ctx, td))
	}
	p.Shutdown(t) // releases anything held and flushes the connector
	traces, metrics := p.Traces, p.Metrics

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
