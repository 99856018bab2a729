package spanmetricses

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// behaviourInputs build the inputs of the input→output behaviour tests
// (behaviour_test.go asserts their meaning; TestBehaviourGolden keeps their
// whole output in testdata/<case>-in.yaml → <case>-expected.yaml).
var behaviourInputs = map[string]func() *testbatch.Batch{
	"events-produced-once": func() *testbatch.Batch {
		b := testbatch.New("svc")
		// Own count, span events and an append beneath: the own count wins.
		own := b.Command("Own", 1, 5, map[string]any{semconv.AttrEventsCount: 3})
		for range 3 {
			own.Events().AppendEmpty().SetName(semconv.EventDomainEventProduced)
		}
		b.AppendEvents(1, own.SpanID(), 3)
		// Span events only, an append beneath: span events win.
		evs := b.Command("Events", 2, 5, nil)
		for range 2 {
			evs.Events().AppendEmpty().SetName(semconv.EventDomainEventProduced)
		}
		b.AppendEvents(2, evs.SpanID(), 2)
		// Nothing on the command: the appends beneath it (at any depth) count.
		bare := b.Command("Bare", 3, 5, nil)
		save := b.Span(semconv.SpanRepositorySave, 3, bare.SpanID(), 2, map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESEventCount: 4})
		b.AppendEvents(3, save.SpanID(), 4)
		b.AppendEvents(3, bare.SpanID(), 1)
		// Nothing anywhere: zero, still recorded once.
		b.Command("None", 4, 5, nil)
		// A nested command that reports its own count blocks its appends from
		// reaching the outer command.
		outer := b.Command("Outer", 5, 5, nil)
		inner := b.Span("command.Inner", 5, outer.SpanID(), 1, map[string]any{
			semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: "Inner", semconv.AttrEventsCount: 1,
		})
		b.AppendEvents(5, inner.SpanID(), 1)
		// An append of another trace with a colliding parent id is not ours.
		b.AppendEvents(99, bare.SpanID(), 100)
		// eventsource-py 0.14 traces no event store: the repository save, or the migration router's append,
		// carries the count (the store append the runtime module nests under its save is not counted again).
		py := b.Command("Py", 6, 5, nil)
		b.Span(semconv.SpanRepositorySave, 6, py.SpanID(), 2, map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESEventCount: 2})
		routed := b.Command("Routed", 7, 5, nil)
		b.Span(semconv.SpanRouterAppend, 7, routed.SpanID(), 2, map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESEventCount: 3})

		// A failed command produced nothing, whatever it reports; a failed append stored nothing.
		b.Command("Failed", 8, 5, map[string]any{semconv.AttrEventsCount: 3}).Status().SetCode(ptrace.StatusCodeError)
		retried := b.Command("Retried", 9, 5, nil)
		b.AppendEvents(9, retried.SpanID(), 1).Status().SetCode(ptrace.StatusCodeError)
		b.AppendEvents(9, retried.SpanID(), 1)
		return b
	},
	"status-and-invalid": func() *testbatch.Batch {
		b := testbatch.New("")
		b.Command("A", 1, 5, nil).Status().SetCode(2) // error
		b.Command("A", 1, 5, nil)
		neg := b.Command("A", 1, 5, map[string]any{semconv.AttrEventsCount: "three"})
		neg.SetEndTimestamp(neg.StartTimestamp() - 1)
		b.Span("projection.p", 1, pcommon.SpanID{}, 1, map[string]any{
			semconv.AttrSide: semconv.SideProjection, semconv.AttrProjectionName: "p", semconv.AttrProjectionLagMs: "slow",
		})
		b.Span("no.side", 1, pcommon.SpanID{}, 1, nil)
		return b
	},
	"dimensions-and-instance": func() *testbatch.Batch {
		b := testbatch.New("svc")
		b.RS.Resource().Attributes().PutStr("deployment.environment", "prod")
		b.RS.Resource().Attributes().PutStr("service.namespace", "shop")
		b.Command("A", 1, 5, map[string]any{"tenant": "t1"})
		b.Command("A", 1, 5, map[string]any{"deployment.environment": "canary"})
		return b
	},
	"one-resource-per-service": func() *testbatch.Batch {
		b := testbatch.New("a")
		b.Command("X", 1, 1, nil)
		b.Resource("b")
		b.Command("X", 2, 1, nil)
		b.Resource("a") // a second ResourceSpans of service a merges with the first
		b.Command("X", 3, 1, nil)
		return b
	},
	"sampled-counts": func() *testbatch.Batch {
		b := testbatch.New("svc")
		b.Command("A", 1, 5, map[string]any{semconv.AttrEventsCount: 2}).TraceState().FromRaw("ot=th:c") // p=0.25
		b.Command("A", 2, 5, nil).TraceState().FromRaw("vendor=x,ot=th:0")                               // p=1
		b.Command("A", 3, 5, nil).TraceState().FromRaw("ot=th:zz")                                       // malformed: 1
		return b
	},
	"replay-lag-apart": func() *testbatch.Batch {
		b := testbatch.New("svc")
		b.Apply("p", "E", 1, 10)
		r := b.Apply("p", "E", 1, 1e6)
		r.Attributes().PutStr(semconv.AttrProjectionPhase, semconv.PhaseReplay)
		r.Attributes().PutDouble(semconv.AttrConsistencyDelayMs, 1e6)
		r.Attributes().PutStr(semconv.AttrCommandType, "C")
		return b
	},
	"long-values-clipped": func() *testbatch.Batch {
		long := strings.Repeat("é", 1000) // 2 bytes per rune
		b := testbatch.New("svc")
		b.Command(long, 1, 1, nil)
		b.Command(long+"x", 1, 1, nil) // same first 256 bytes: same series
		return b
	},
}
