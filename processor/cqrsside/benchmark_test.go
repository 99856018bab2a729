package cqrsside

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/jonboulle/clockwork"

	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadatatest"
)

// renumber gives every span and parent id a fresh value per iteration, as
// real traffic would, so the ancestor cache sees new keys.
func renumber(td ptrace.Traces, n uint64) {
	bump := func(id pcommon.SpanID) pcommon.SpanID {
		if id.IsEmpty() {
			return id
		}
		binary.BigEndian.PutUint64(id[:], binary.BigEndian.Uint64(id[:])^(n<<40))
		return id
	}
	forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
		s.SetSpanID(bump(s.SpanID()))
		s.SetParentSpanID(bump(s.ParentSpanID()))
	})
}

// splitByParent returns the spans that have a parent, then the roots: the
// order an SDK exports them in (children end first).
func splitByParent(td ptrace.Traces) (children, roots ptrace.Traces) {
	children, roots = ptrace.NewTraces(), ptrace.NewTraces()
	td.CopyTo(children)
	td.CopyTo(roots)
	for _, x := range []struct {
		td       ptrace.Traces
		keepRoot bool
	}{{children, false}, {roots, true}} {
		forEach := x.td.ResourceSpans()
		for i := 0; i < forEach.Len(); i++ {
			sss := forEach.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				keep := x.keepRoot
				sss.At(j).Spans().RemoveIf(func(s ptrace.Span) bool { return s.ParentSpanID().IsEmpty() != keep })
			}
		}
	}
	return children, roots
}

// BenchmarkConsumeTraces runs a realistic mixed batch (CQRS and eventsource
// runtime convention shapes, ~1k spans) through the processor. Allocations are counted
// only around processTraces, not around preparing the input.
func BenchmarkConsumeTraces(b *testing.B) {
	base := mixedBatch(1000)
	children, roots := splitByParent(base)
	// annotated has been through the processor once already, without
	// cqrs.side.source: nothing is left to write, so what remains is the
	// processor's own work (matching, resolving, caching).
	annotated := ptrace.NewTraces()
	base.CopyTo(annotated)
	noSource := func(c *Config) { c.EmitSideSource = false }
	{
		cfg := defaultCfg()
		noSource(cfg)
		p, err := newProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, clockwork.NewFakeClock())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.processTraces(context.Background(), annotated); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name    string
		batches []ptrace.Traces
		config  func(*Config)
	}{
		{name: "one_batch", batches: []ptrace.Traces{base}},
		{name: "children_first", batches: []ptrace.Traces{children, roots}},
		{name: "one_batch_no_source", batches: []ptrace.Traces{base}, config: noSource},
		{name: "annotated_no_source", batches: []ptrace.Traces{annotated}, config: noSource},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := defaultCfg()
			if bc.config != nil {
				bc.config(cfg)
			}
			tel := componenttest.NewTelemetry()
			defer func() { _ = tel.Shutdown(context.Background()) }()
			p, err := newProcessor(metadatatest.NewSettings(tel), cfg, clockwork.NewFakeClock())
			if err != nil {
				b.Fatal(err)
			}
			spans := 0
			for _, td := range bc.batches {
				spans += td.SpanCount()
			}
			work := make([]ptrace.Traces, len(bc.batches))
			var m0, m1 runtime.MemStats
			var mallocs uint64
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for k, td := range bc.batches {
					work[k] = ptrace.NewTraces()
					td.CopyTo(work[k])
					renumber(work[k], uint64(i))
				}
				runtime.ReadMemStats(&m0)
				b.StartTimer()
				for _, td := range work {
					_, _ = p.processTraces(ctx, td)
				}
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				mallocs += m1.Mallocs - m0.Mallocs
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
			b.ReportMetric(float64(mallocs)/float64(b.N*spans), "allocs/span")
			b.ReportMetric(float64(spans), "spans/op")
		})
	}
}
