package spanmetricses

import (
	"context"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func BenchmarkConsumeTraces(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{name: "explicit"},
		{name: "exponential", cfg: func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160} }},
		{name: "no_own_event_count", cfg: nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			td := testbatch.Realistic()
			if tc.name == "no_own_event_count" {
				// Force the append-span path for every command.
				forEachSpan(td, func(s ptrace.Span) {
					s.Attributes().Remove(semconv.AttrEventsCount)
					s.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
				})
			}
			c, err := newConnector(connectortestSettings(), cfg, consumertest.NewNop(), fakeClock())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			_ = c.ConsumeTraces(ctx, td) // create the series: measure the steady state
			spans := float64(td.SpanCount())
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for b.Loop() {
				_ = c.ConsumeTraces(ctx, td)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/spans, "ns/span")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/spans, "allocs/span")
		})
	}
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

func BenchmarkFlush(b *testing.B) {
	c, err := newConnector(connectortestSettings(), createDefaultConfig().(*Config), consumertest.NewNop(), fakeClock())
	if err != nil {
		b.Fatal(err)
	}
	_ = c.ConsumeTraces(context.Background(), testbatch.Realistic())
	b.ReportAllocs()
	for b.Loop() {
		_ = c.flush(context.Background())
	}
}
