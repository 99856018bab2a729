package projectionlag

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Set UPDATE_GOLDEN=1 to rewrite testdata/*-in.yaml from the builders below
// and testdata/*-expected.yaml from the processor's output; UPDATE_GOLDEN=expected
// rewrites only the latter.
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// goldenInputs build each case's input: one batch, as a gateway would get it.
var goldenInputs = map[string]func() ptrace.Traces{
	"eventsource-py": eventsourcePyInput,
	"hostile":        hostileInput,
	// CQRS conventions in one process: a command whose handler applies the event to
	// two projections synchronously, each linked to the command; one reports
	// its own lag.
	"cqrs-conventions": func() ptrace.Traces {
		b := newBatch("orders")
		b.command(tid(1), sid(1), "PlaceOrder", ms(0), ms(50))
		s := b.apply(tid(1), sid(2), sid(1), "order_summary", ms(20), ms(30), map[string]any{
			semconv.AttrEventType: "OrderPlaced", semconv.AttrProjectionLagMs: 19.5,
		})
		link(s, tid(1), sid(1))
		s = b.apply(tid(1), sid(3), sid(1), "customer_orders", ms(31), ms(45), map[string]any{semconv.AttrEventType: "OrderPlaced"})
		link(s, tid(1), sid(1))
		return b.td
	},
	// Eventsource runtime conventions across services: publish in "orders", consume → dispatch →
	// handle → projection.handle in "views", with the runtime's event
	// timestamp on the apply span; plus a second event with no timestamp
	// (lag from the publish span).
	"eventsource-conventions": func() ptrace.Traces {
		pub := newBatch("orders")
		pub.command(tid(5), sid(1), "PlaceOrder", ms(0), ms(60))
		pub.write(semconv.SpanRepositorySave, tid(5), sid(2), sid(1), ms(5), ms(40), nil)
		pub.write("postgresql_event_store.append_events", tid(5), sid(3), sid(2), ms(10), ms(30), map[string]any{semconv.AttrESPosition: 42})
		pub.write(semconv.SpanBusPublish, tid(5), sid(4), sid(1), ms(41), ms(55), map[string]any{semconv.AttrMessagingSystem: "kafka"})
		con := newBatch("views")
		proj := func() map[string]any { return map[string]any{semconv.AttrSide: semconv.SideProjection} }
		con.span(semconv.SpanBusConsume, tid(5), sid(5), sid(4), ms(180), ms(250), proj())
		con.span(semconv.SpanBusDispatch, tid(5), sid(6), sid(5), ms(190), ms(240), proj())
		con.span(semconv.SpanBusHandle, tid(5), sid(7), sid(6), ms(195), ms(235), proj())
		a := con.apply(tid(5), sid(8), sid(7), "order_summary", ms(200), ms(230), map[string]any{
			semconv.AttrESEventTimestamp: ms(25).UnixMilli(), semconv.AttrSubscriptionPhase: semconv.PhaseValueLive,
		})
		a.SetName(semconv.SpanProjectionHandle)
		a = con.apply(tid(5), sid(9), sid(7), "order_stats", ms(231), ms(234), nil)
		a.SetName(semconv.SpanProjectionHandle)
		con.td.ResourceSpans().MoveAndAppendTo(pub.td.ResourceSpans())
		return pub.td
	},
	// Positions behind and phases from checkpoint spans.
	"positions": func() ptrace.Traces {
		b := newBatch("orders")
		b.write("sqlite_event_store.append_events", tid(1), sid(1), pcommon.SpanID{}, ms(0), ms(5),
			map[string]any{semconv.AttrESPosition: 20_000, semconv.AttrDBName: "es"})
		for i, c := range []struct {
			name string
			pos  int
			more map[string]any
		}{
			{"order_summary", 19_990, nil},
			{"order_search", 12, nil},
			{"customer_orders", 5_000, map[string]any{semconv.AttrSubscriptionPhase: "catchup"}},
		} {
			attrs := map[string]any{semconv.AttrSide: semconv.SideProjection, semconv.AttrESPosition: c.pos,
				semconv.AttrESProjectionName: c.name, semconv.AttrDBName: "es"}
			for k, v := range c.more {
				attrs[k] = v
			}
			b.span(semconv.SpanCheckpointUpdate, tid(2+byte(i)), sid(2+byte(i)), pcommon.SpanID{}, ms(10), ms(12), attrs)
		}
		return b.td
	},
	// Bad input passes through: wrong types, absurd timestamps, negative
	// lag, a link to nowhere (held, then released at shutdown).
	"bad-input": func() ptrace.Traces {
		b := newBatch("views")
		b.apply(tid(1), sid(1), pcommon.SpanID{}, "string_lag", ms(100), ms(110), map[string]any{semconv.AttrProjectionLagMs: "12ms"})
		b.apply(tid(2), sid(2), pcommon.SpanID{}, "ancient_event", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: 1234})
		b.apply(tid(3), sid(3), pcommon.SpanID{}, "future_event", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: "2100-01-01T00:00:00Z"})
		b.apply(tid(4), sid(4), pcommon.SpanID{}, "skewed_event", ms(100), ms(110), map[string]any{semconv.AttrESEventTimestamp: ms(130).UnixMilli()})
		s := b.apply(tid(5), sid(5), pcommon.SpanID{}, "dangling_link", ms(100), ms(110), nil)
		link(s, tid(9), sid(9))
		b.span(semconv.SpanCheckpointUpdate, tid(6), sid(6), pcommon.SpanID{}, ms(100), ms(110),
			map[string]any{semconv.AttrESPosition: -4, semconv.AttrESProjectionName: "order_summary"})
		b.span(semconv.SpanPrefixProjection+"no_side", tid(7), sid(7), pcommon.SpanID{}, ms(100), ms(110), nil)
		return b.td
	},
}

// eventsourcePyInput is what projectionlag receives from cqrsside in a pipeline fed by eventsource-py
// 0.14 (processor/cqrsside's golden outputs of the same flows): the Kafka chain's live apply, a catch-up
// rebuild with position tokens and a watermark, RabbitMQ and Redis consumers.
func eventsourcePyInput() ptrace.Traces {
	td := ptrace.NewTraces()
	for _, f := range []string{"eventsource-py-kafka-expected.yaml", "eventsource-py-brokers-expected.yaml"} {
		in, err := golden.ReadTraces(filepath.Join("..", "cqrsside", "testdata", f))
		if err != nil {
			panic(err)
		}
		in.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return td
}

// hostileInput: spans no clock or store should send. Each passes through, counted, with no lag.
func hostileInput() ptrace.Traces {
	b := newBatch("views")
	proj := map[string]any{semconv.AttrSide: semconv.SideProjection}
	// A start time of 2^64-1 ns, and an end before the start.
	s := b.apply(tid(1), sid(1), pcommon.SpanID{}, "far_future", ms(100), ms(110), nil)
	s.SetStartTimestamp(pcommon.Timestamp(math.MaxUint64))
	s.SetEndTimestamp(pcommon.Timestamp(math.MaxUint64))
	s = b.apply(tid(2), sid(2), pcommon.SpanID{}, "backwards", ms(100), ms(110), nil)
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(ms(50)))
	// A producer whose end precedes its start, and an apply below it: no lag from it.
	w := b.write(semconv.SpanRepositorySave, tid(3), sid(3), pcommon.SpanID{}, ms(0), ms(10), nil)
	w.SetEndTimestamp(pcommon.NewTimestampFromTime(ms(-5)))
	b.span(semconv.SpanBusConsume, tid(3), sid(4), sid(3), ms(20), ms(40), proj)
	b.apply(tid(3), sid(5), sid(4), "after_bad_producer", ms(21), ms(30), nil)
	// Positions at the int64 edge, plain and as eventsource-py tokens, and a multi-key token.
	b.write("sqlite_event_store.append_events", tid(4), sid(6), pcommon.SpanID{}, ms(0), ms(5),
		map[string]any{semconv.AttrESPosition: int64(math.MaxInt64), semconv.AttrDBName: "es"})
	b.span(semconv.SpanCheckpointUpdate, tid(5), sid(7), pcommon.SpanID{}, ms(10), ms(12), map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrESPosition: int64(math.MaxInt64),
		semconv.AttrESProjectionName: "edge", semconv.AttrDBName: "es"})
	b.span(semconv.SpanCheckpointSavePosition, tid(6), sid(8), pcommon.SpanID{}, ms(10), ms(12), map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrPositionToken: `{"s":"pg:db","k":[9223372036854775807]}`,
		semconv.AttrESProjectionName: "edge_token"})
	b.span(semconv.SpanLiveRunnerProcessEvent, tid(7), sid(9), pcommon.SpanID{}, ms(10), ms(12), map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrESPosition: `{"s":"kafka","k":[3,17]}`,
		semconv.AttrESSubscriptionName: "multi_key"})
	return b.td
}

func TestGolden(t *testing.T) {
	for name, build := range goldenInputs {
		t.Run(name, func(t *testing.T) {
			inPath := filepath.Join("testdata", name+"-in.yaml")
			outPath := filepath.Join("testdata", name+"-expected.yaml")
			if updateGolden && os.Getenv("UPDATE_GOLDEN") != "expected" {
				require.NoError(t, golden.WriteTracesToFile(inPath, build()))
			}
			in, err := golden.ReadTraces(inPath)
			require.NoError(t, err)

			h := newHarness(t, nil)
			h.consume(in)
			require.NoError(t, h.proc.Shutdown(context.Background()))
			got := ptrace.NewTraces()
			for _, td := range h.sink.AllTraces() {
				td.ResourceSpans().MoveAndAppendTo(got.ResourceSpans())
			}
			if updateGolden {
				require.NoError(t, golden.WriteTracesToFile(outPath, got))
			}
			want, err := golden.ReadTraces(outPath)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(want, got,
				ptracetest.IgnoreResourceSpansOrder(), ptracetest.IgnoreScopeSpansOrder(), ptracetest.IgnoreSpansOrder()))
		})
	}
}
