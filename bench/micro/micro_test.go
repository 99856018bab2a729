// Package micro holds the side-by-side micro-benchmarks: each benchmark has
// one sub-benchmark per implementation (impl=contrib is the anchor, impl=es
// is otelcol-es), fed the same generated batches, so
//
//	go test -run '^$' -bench . -count 10 ./micro | tee micro.txt
//	go tool benchstat -col /impl -filter '.unit:(ns/span OR B/span OR allocs/span)' micro.txt
//
// prints each candidate next to its anchor with the ratio. ns/span, B/span and
// allocs/span count only the component's own work: batch generation and the
// per-iteration copy run with the timer stopped. No timing is asserted.
package micro

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	spanmetricses "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag"

	"github.com/otelcol-es/otelcol-es/internal/spangen"
)

// poolSize batches are generated once and cycled; each iteration consumes a
// fresh copy, because the processors mutate what they receive.
const poolSize = 64

// flushInterval keeps both connectors from flushing during a benchmark: the
// micro figures are the per-span aggregation path; the load harness covers
// flushing and export.
const flushInterval = time.Hour

var contribConf = filepath.Join("..", "configs", "contrib.yaml")

func pool(tb testing.TB, annotate bool) []ptrace.Traces {
	cfg := spangen.DefaultConfig()
	cfg.Annotate = annotate
	return spangen.New(cfg).Batches(poolSize)
}

// run feeds fresh copies of the pool to consume and reports per-span figures.
// Each pass over the pool gets new trace ids (the same for every batch of a
// pass, so joins between its batches still hold): spanmetrics_es counts a
// span once by (trace id, span id), and a replayed pool would measure its
// duplicate path instead of its work.
func run(b *testing.B, batches []ptrace.Traces, consume func(context.Context, ptrace.Traces) error) {
	ctx := context.Background()
	var spans, bytes, allocs uint64
	var m0, m1 runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := ptrace.NewTraces()
		batches[i%len(batches)].CopyTo(td)
		spangen.RenewTraceIDs(td, uint64(i/len(batches)))
		spans += uint64(td.SpanCount())
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		if err := consume(ctx, td); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&m1)
		bytes += m1.TotalAlloc - m0.TotalAlloc
		allocs += m1.Mallocs - m0.Mallocs
		b.StartTimer()
	}
	b.StopTimer()
	if spans == 0 {
		return
	}
	n := float64(spans)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/span")
	b.ReportMetric(float64(bytes)/n, "B/span")
	b.ReportMetric(float64(allocs)/n, "allocs/span")
}

func loadSub(tb testing.TB, key string, cfg component.Config) {
	tb.Helper()
	cm, err := confmaptest.LoadConf(contribConf)
	require.NoError(tb, err)
	sub, err := cm.Sub(key)
	require.NoError(tb, err)
	require.NoError(tb, sub.Unmarshal(cfg), key)
}

func startProcessor(tb testing.TB, f processor.Factory, cfg component.Config, next consumer.Traces) processor.Traces {
	tb.Helper()
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

func startConnector(tb testing.TB, f connector.Factory, cfg component.Config, next consumer.Metrics) connector.Traces {
	tb.Helper()
	c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, c.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, c.Shutdown(context.Background())) })
	return c
}

// The anchors, configured from configs/contrib.yaml.

func contribSpanmetrics(tb testing.TB, next consumer.Metrics) connector.Traces {
	f := spanmetricsconnector.NewFactory()
	cfg := f.CreateDefaultConfig()
	loadSub(tb, "connectors::spanmetrics", cfg)
	cfg.(*spanmetricsconnector.Config).MetricsFlushInterval = flushInterval
	return startConnector(tb, f, cfg, next)
}

func contribTransform(tb testing.TB, name string, next consumer.Traces) processor.Traces {
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	loadSub(tb, "processors::"+name, cfg)
	require.NoError(tb, cfg.(*transformprocessor.Config).Validate())
	return startProcessor(tb, f, cfg, next)
}

// The candidates, on their defaults (what config/default.yaml runs).

func esSpanmetrics(tb testing.TB, next consumer.Metrics) connector.Traces {
	f := spanmetricses.NewFactory()
	cfg := f.CreateDefaultConfig()
	cfg.(*spanmetricses.Config).MetricsFlushInterval = flushInterval
	return startConnector(tb, f, cfg, next)
}

func esProcessor(tb testing.TB, f processor.Factory, next consumer.Traces) processor.Traces {
	return startProcessor(tb, f, f.CreateDefaultConfig(), next)
}

// BenchmarkSpanmetrics (P1): annotated spans into the connector alone.
func BenchmarkSpanmetrics(b *testing.B) {
	batches := pool(b, true)
	b.Run("impl=contrib", func(b *testing.B) {
		run(b, batches, contribSpanmetrics(b, consumertest.NewNop()).ConsumeTraces)
	})
	b.Run("impl=es", func(b *testing.B) {
		run(b, batches, esSpanmetrics(b, consumertest.NewNop()).ConsumeTraces)
	})
}

// BenchmarkClassify (P2): raw spans, classification only.
func BenchmarkClassify(b *testing.B) {
	batches := pool(b, false)
	b.Run("impl=contrib", func(b *testing.B) {
		run(b, batches, contribTransform(b, "transform/classify", consumertest.NewNop()).ConsumeTraces)
	})
	b.Run("impl=es", func(b *testing.B) {
		run(b, batches, esProcessor(b, cqrsside.NewFactory(), consumertest.NewNop()).ConsumeTraces)
	})
}

// BenchmarkAnnotate: raw spans, classification and lag (cqrsside + projectionlag
// against transform/cqrs).
func BenchmarkAnnotate(b *testing.B) {
	batches := pool(b, false)
	b.Run("impl=contrib", func(b *testing.B) {
		run(b, batches, contribTransform(b, "transform/cqrs", consumertest.NewNop()).ConsumeTraces)
	})
	b.Run("impl=es", func(b *testing.B) {
		lag := esProcessor(b, projectionlag.NewFactory(), consumertest.NewNop())
		run(b, batches, esProcessor(b, cqrsside.NewFactory(), lag).ConsumeTraces)
	})
}

// BenchmarkPipeline: raw spans through the whole span-processing chain
// (no receiver, batch or exporter): cqrsside -> projectionlag -> spanmetrics_es
// against transform/cqrs -> spanmetrics.
func BenchmarkPipeline(b *testing.B) {
	batches := pool(b, false)
	b.Run("impl=contrib", func(b *testing.B) {
		sm := contribSpanmetrics(b, consumertest.NewNop())
		run(b, batches, contribTransform(b, "transform/cqrs", sm).ConsumeTraces)
	})
	b.Run("impl=es", func(b *testing.B) {
		sm := esSpanmetrics(b, consumertest.NewNop())
		lag := esProcessor(b, projectionlag.NewFactory(), sm)
		run(b, batches, esProcessor(b, cqrsside.NewFactory(), lag).ConsumeTraces)
	})
}

// TestComponentsAgree checks that the benchmarks measure comparable work: the
// generator's annotated stream and the processors' output classify (nearly)
// the same share of spans, and both connectors emit metrics on flush.
func TestComponentsAgree(t *testing.T) {
	raw := spangen.DefaultConfig()
	td := spangen.New(raw).Batch()
	want := td.SpanCount()

	sink := new(consumertest.TracesSink)
	lag := esProcessor(t, projectionlag.NewFactory(), sink)
	require.NoError(t, esProcessor(t, cqrsside.NewFactory(), lag).ConsumeTraces(context.Background(), td))

	csink := new(consumertest.TracesSink)
	td2 := spangen.New(raw).Batch()
	require.NoError(t, contribTransform(t, "transform/cqrs", csink).ConsumeTraces(context.Background(), td2))
	require.Len(t, csink.AllTraces(), 1)
	classified := countWith(csink.AllTraces()[0], semconv.AttrSide)
	require.Greater(t, classified, want/2, "OTTL statements must classify most spans")
	// The OTTL lag statements must work (error_mode: ignore would hide a broken one).
	require.Positive(t, countWith(csink.AllTraces()[0], semconv.AttrProjectionLagMs))
	require.Positive(t, countWith(csink.AllTraces()[0], semconv.AttrProjectionLagSource))
	require.Positive(t, countWith(csink.AllTraces()[0], semconv.AttrProjectionPhase))
	require.Positive(t, countWith(csink.AllTraces()[0], semconv.AttrCommandType))
	var fromTimestamp int
	forEachSpan(csink.AllTraces()[0], func(s ptrace.Span) {
		if src, ok := s.Attributes().Get(semconv.AttrProjectionLagSource); ok && src.Str() == semconv.LagSourceEventTimestamp {
			lag, ok := s.Attributes().Get(semconv.AttrProjectionLagMs)
			require.True(t, ok, s.Name())
			require.Equal(t, pcommon.ValueTypeDouble, lag.Type())
			fromTimestamp++
		}
	})
	require.Positive(t, fromTimestamp)

	// cqrsside may hold spans waiting for an ancestor; what came out must be classified too.
	var got int
	for _, out := range sink.AllTraces() {
		got += countWith(out, semconv.AttrSide)
	}
	t.Logf("spans=%d otelcol-es classified (so far)=%d OTTL classified=%d", want, got, classified)
}

func countWith(td ptrace.Traces, key string) int {
	n := 0
	forEachSpan(td, func(s ptrace.Span) {
		if _, ok := s.Attributes().Get(key); ok {
			n++
		}
	})
	return n
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f(s)
			}
		}
	}
}
