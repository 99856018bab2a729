// Package contribbench compares spanmetrics_es with contrib's
// spanmetricsconnector on the same span batches. It is a separate module so
// contrib's connector never enters the distribution's go.mod.
//
//	cd connector/spanmetrics-es/internal/contribbench && go test -run x -bench . -benchtime 3s
package contribbench

import (
	"context"
	"runtime"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	spanmetricses "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
)

func run(b *testing.B, f connector.Factory, cfg component.Config) {
	ctx := context.Background()
	c, err := f.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx, nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(ctx) }()
	td := testbatch.Realistic()
	bench(b, td, func() { _ = c.ConsumeTraces(ctx, td) })
}

func bench(b *testing.B, td ptrace.Traces, f func()) {
	f() // series exist: measure the steady state
	spans := float64(td.SpanCount())
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		f()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/spans, "ns/span")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/spans, "allocs/span")
}

func BenchmarkSpanmetricsES(b *testing.B) {
	f := spanmetricses.NewFactory()
	run(b, f, f.CreateDefaultConfig())
}

func BenchmarkContribSpanmetrics(b *testing.B) {
	f := spanmetricsconnector.NewFactory()
	run(b, f, f.CreateDefaultConfig())
}
