package spanmetricses

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// BenchmarkConsumeTraces sends one ~1000-span batch per op. The first three
// resend the same spans, so they run with dedupe off (as before dedupe
// existed); the dedupe cases compare fresh ids per op (every span new, the
// table full and evicting after 131 ops) with and without dedupe, and a
// retried batch (every span a duplicate).
func BenchmarkConsumeTraces(b *testing.B) {
	noDedupe := func(c *Config) { c.Dedupe.Enabled = false }
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		fresh bool // new trace ids every op
	}{
		{name: "explicit", cfg: noDedupe},
		{name: "exponential", cfg: func(c *Config) {
			noDedupe(c)
			c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160}
		}},
		{name: "no_own_event_count", cfg: noDedupe},
		{name: "fresh_ids/dedupe_off", cfg: noDedupe, fresh: true},
		{name: "fresh_ids/dedupe_on", fresh: true},
		{name: "fresh_ids/dedupe_on_8k", cfg: func(c *Config) { c.Dedupe.MaxEntries = 8192 }, fresh: true},
		{name: "retried/dedupe_on"},
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
			nSpans := float64(td.SpanCount())
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			var spans []ptrace.Span
			if tc.fresh {
				forEachSpan(td, func(s ptrace.Span) { spans = append(spans, s) })
			}
			var op uint64
			for b.Loop() {
				if tc.fresh {
					// Realistic's trace ids leave their first 8 bytes 0.
					op++
					for _, s := range spans {
						tid := s.TraceID()
						binary.BigEndian.PutUint64(tid[:8], op)
						s.SetTraceID(tid)
					}
				}
				_ = c.ConsumeTraces(ctx, td)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nSpans, "ns/span")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/nSpans, "allocs/span")
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
