package projectionlag

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
)

const benchBatch = 100

func benchProcessor(b *testing.B) processor.Traces {
	cfg := createDefaultConfig().(*Config)
	set := processortest.NewNopSettings(metadata.Type)
	lp, err := newProcessor(set, cfg, clockwork.NewFakeClockAt(t0))
	if err != nil {
		b.Fatal(err)
	}
	p, err := processorhelper.NewTraces(context.Background(), set, cfg, consumertest.NewNop(), lp.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}), processorhelper.WithShutdown(lp.shutdown))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func benchIDs(n uint64) (pcommon.TraceID, pcommon.SpanID) {
	var t pcommon.TraceID
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(t[8:], n)
	binary.BigEndian.PutUint64(s[:], n|1<<63)
	return t, s
}

// producers builds a batch of command + append spans; applies a batch of
// projection spans, each linked to one append when linked is set.
func producers(seq uint64) ptrace.Traces {
	b := newBatch("orders")
	for i := range uint64(benchBatch) {
		tr, s := benchIDs(seq + i)
		cmd := s
		cmd[0] ^= 0x40
		b.command(tr, cmd, "PlaceOrder", ms(0), ms(50))
		b.write("sqlite_event_store.append_events", tr, s, cmd, ms(10), ms(30), map[string]any{semconv.AttrESPosition: int64(seq + i)})
	}
	return b.td
}

func applies(seq uint64, attrs func() map[string]any, linked bool) ptrace.Traces {
	b := newBatch("views")
	for i := range uint64(benchBatch) {
		ptr, ps := benchIDs(seq + i)
		tr, s := ptr, ps
		tr[0] = 0xff
		sp := b.apply(tr, s, pcommon.SpanID{}, "orders_view", ms(100), ms(120), attrs())
		if linked {
			link(sp, ptr, ps)
		}
	}
	return b.td
}

func runBench(b *testing.B, perIter func(seq uint64) []ptrace.Traces) {
	p := benchProcessor(b)
	ctx := context.Background()
	var seq, mallocs uint64
	var before, after runtime.MemStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batches := perIter(seq)
		seq += benchBatch
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, td := range batches {
			if err := p.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
		b.StartTimer()
	}
	b.StopTimer()
	spans := float64(b.N * benchBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans, "ns/span")
	b.ReportMetric(float64(mallocs)/spans, "allocs/span")
}

// BenchmarkSources reports ns and allocs per projection span for each lag
// source. The link cases include ingesting the producers (two spans per
// event: command + append), so their per-span cost covers a whole pair.
func BenchmarkSources(b *testing.B) {
	noAttrs := func() map[string]any { return nil }
	b.Run("reported", func(b *testing.B) {
		runBench(b, func(seq uint64) []ptrace.Traces {
			return []ptrace.Traces{applies(seq, func() map[string]any { return map[string]any{semconv.AttrProjectionLagMs: 12.5} }, false)}
		})
	})
	b.Run("event_timestamp", func(b *testing.B) {
		ts := ms(-250).UnixMilli()
		runBench(b, func(seq uint64) []ptrace.Traces {
			return []ptrace.Traces{applies(seq, func() map[string]any { return map[string]any{semconv.AttrESEventTimestamp: ts} }, false)}
		})
	})
	b.Run("link_producer_first", func(b *testing.B) {
		runBench(b, func(seq uint64) []ptrace.Traces {
			return []ptrace.Traces{producers(seq), applies(seq, noAttrs, true)}
		})
	})
	b.Run("link_projection_first", func(b *testing.B) {
		runBench(b, func(seq uint64) []ptrace.Traces {
			return []ptrace.Traces{applies(seq, noAttrs, true), producers(seq)}
		})
	})
}
