package cqrsside

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/eventsourcepy"
)

// Golden inputs shaped exactly as eventsource-py 0.14 emits them (internal/eventsourcepy).

var pyStart = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// pyKafkaBatches: a web service saves an order and publishes to Kafka (batch 1); a projector service
// consumes it, its consume span a remote child of the writer's repository.save (batch 2). Batch 3: a
// query, and a catch-up rebuild.
func pyKafkaBatches() []ptrace.Traces {
	writer, save := eventsourcepy.Write{Service: "orders-api", Trace: "w1", Start: pyStart, AggregateID: "order-1",
		EventID: "evt-1", EventType: "OrderCreated", Topic: "orders.events"}.Spans()
	consumer, _ := eventsourcepy.LiveApply{Service: "order-projector", Trace: "c1", Parent: save,
		Start: pyStart.Add(50 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: "evt-1",
		EventType: "OrderCreated", Topic: "orders.events", DB: "orders", Position: 42}.Spans()
	// A worker of another service that got the writer's context by hand, from an SDK that does not
	// flag remote parents: only the other service.name tells the boundary.
	worker := []eventsourcepy.Span{
		{Service: "order-auditor", Scope: "app.audit", Name: "audit.record_order", Trace: save.Trace,
			ID: eventsourcepy.ID("audit"), Parent: save.ID, Start: pyStart.Add(60 * time.Millisecond), End: pyStart.Add(70 * time.Millisecond)},
		{Service: "order-auditor", Scope: eventsourcepy.ScopeReadModels, Name: semconv.SpanPrefixReadModel + "save", Trace: save.Trace,
			ID: eventsourcepy.ID("audit/rm-save"), Parent: eventsourcepy.ID("audit"), Start: pyStart.Add(62 * time.Millisecond), End: pyStart.Add(66 * time.Millisecond)},
	}
	catchup, _ := eventsourcepy.Catchup{Service: "order-projector", Trace: "rebuild", Start: pyStart.Add(time.Second),
		Subscription: "OrderSummaryProjection", DB: "orders", From: 40, To: 42, EventType: "OrderCreated"}.Spans()
	later := append(eventsourcepy.Query("orders-api", "q1", pyStart.Add(2*time.Second)), catchup...)
	return []ptrace.Traces{
		eventsourcepy.Traces(writer...),
		eventsourcepy.Traces(append(consumer, worker...)...),
		eventsourcepy.Traces(later...),
	}
}

// pyBrokersInput: the outbox relay publishing a batch to RabbitMQ, a RabbitMQ consumer (whose handle
// span is a root) applying evt-1 (the event pyKafkaBatches' writer added to its outbox), and a Redis
// Streams consumer (whose process span is a root).
func pyBrokersInput() ptrace.Traces {
	spans := eventsourcepy.RabbitRelay("orders-api", "relay", pyStart, 3)
	spans = append(spans, eventsourcepy.RabbitConsume("order-projector", "rmq", pyStart.Add(20*time.Millisecond),
		"OrderSummaryProjection", "evt-1", "OrderCreated", "orders", 43)...)
	spans = append(spans, eventsourcepy.RedisConsume("notifier", "redis", pyStart.Add(40*time.Millisecond),
		"EmailNotifier", "OrderCreated")...)
	return eventsourcepy.Traces(spans...)
}

// hostileBatches: shapes no SDK should send. Every span passes, nothing loops, and each is counted
// (TestHostileShapesCounted): a self-parent, a three-span parent cycle split over two batches, a flagged
// remote parent that never arrives, an unflagged one (its fallback, counted as parent_unseen), a
// 300-byte command type, and a start of 2^64-1 ns with an end before it.
func hostileBatches() []ptrace.Traces {
	long := "command." + strings.Repeat("X", 300)
	first := tracesOf("hostile",
		sp{name: semconv.SpanRepositoryLoad, id: "self", parent: "self", scope: "repo"},
		sp{name: semconv.SpanSnapshotGet, id: "cyc-a", parent: "cyc-c", scope: "repo"},
		sp{name: "step", id: "cyc-b", parent: "cyc-a", scope: "app"},
		sp{name: semconv.SpanPrefixReadModel + "save", id: "remote-orphan", parent: "never-1", scope: "rm", flags: flagHasIsRemote | flagIsRemote},
		sp{name: semconv.SpanRepositoryLoad, id: "orphan", parent: "never-2", scope: "repo"},
		sp{name: long, id: "long", scope: "app"},
		sp{name: "query.Clockless", id: "clock", scope: "app"},
	)
	spans := first.ResourceSpans().At(0).ScopeSpans()
	for i := 0; i < spans.Len(); i++ {
		for j := 0; j < spans.At(i).Spans().Len(); j++ {
			if s := spans.At(i).Spans().At(j); s.Name() == "query.Clockless" {
				s.SetStartTimestamp(pcommon.Timestamp(math.MaxUint64))
				s.SetEndTimestamp(1)
			}
		}
	}
	second := tracesOf("hostile", sp{name: "loop", id: "cyc-c", parent: "cyc-b", scope: "app"})
	return []ptrace.Traces{first, second}
}
