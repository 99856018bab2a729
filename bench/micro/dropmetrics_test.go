package micro

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop"
)

// appMetricsBatch is a batch of ten apps' metrics exports: 40 metrics of 5 data points each per app, one in
// four a cqrs.* copy of what the collector derives (the eventsource runtime with WithMeterProvider), the rest
// the app's own. 2,000 points per batch keep the untimed copy and memory reads per iteration few.
func appMetricsBatch() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for app := range 10 {
		appMetrics(md.ResourceMetrics().AppendEmpty(), app)
	}
	return md
}

func appMetrics(rm pmetric.ResourceMetrics, app int) {
	rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("app-%d", app))
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	for i := range 40 {
		m := ms.AppendEmpty()
		if i%4 == 0 {
			m.SetName(fmt.Sprintf("cqrs.metric_%d", i))
		} else {
			m.SetName(fmt.Sprintf("app.metric_%d", i))
		}
		dps := m.SetEmptySum().DataPoints()
		for j := range 5 {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("type", fmt.Sprintf("T%d", j))
			dp.SetIntValue(int64(j))
		}
	}
}

func startMetricsProcessor(tb testing.TB, f processor.Factory, conf map[string]any) processor.Metrics {
	tb.Helper()
	cfg := f.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

// BenchmarkDropAppMetrics: dropping the app's cqrs.* copies from its metrics, as every shipped config does
// in its app-metrics pipeline: the filter processor with the OTTL condition the configs used to carry
// (impl=contrib) against cqrsmetricsdrop (impl=es). Per data point in.
func BenchmarkDropAppMetrics(b *testing.B) {
	batch := appMetricsBatch()
	// Copies are made and memory read per chunk of iterations, with the timer stopped: a copy and two
	// stop-the-world memory reads per iteration would take far longer than the work measured.
	const chunk = 8
	bench := func(b *testing.B, p processor.Metrics) {
		ctx := context.Background()
		var points, bytes, allocs uint64
		var m0, m1 runtime.MemStats
		copies := make([]pmetric.Metrics, chunk)
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; done += chunk {
			b.StopTimer()
			n := min(chunk, b.N-done)
			for i := range n {
				copies[i] = pmetric.NewMetrics()
				batch.CopyTo(copies[i])
				points += uint64(copies[i].DataPointCount())
			}
			runtime.ReadMemStats(&m0)
			b.StartTimer()
			for _, md := range copies[:n] {
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			bytes += m1.TotalAlloc - m0.TotalAlloc
			allocs += m1.Mallocs - m0.Mallocs
			b.StartTimer()
		}
		b.StopTimer()
		n := float64(points)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/point")
		b.ReportMetric(float64(bytes)/n, "B/point")
		b.ReportMetric(float64(allocs)/n, "allocs/point")
	}
	b.Run("impl=contrib", func(b *testing.B) {
		bench(b, startMetricsProcessor(b, filterprocessor.NewFactory(), map[string]any{
			"error_mode": "ignore",
			"metrics":    map[string]any{"metric": []any{`HasPrefix(name, "cqrs.")`}},
		}))
	})
	b.Run("impl=es", func(b *testing.B) {
		bench(b, startMetricsProcessor(b, cqrsmetricsdrop.NewFactory(), map[string]any{}))
	})
}
