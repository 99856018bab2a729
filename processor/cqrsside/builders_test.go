package cqrsside

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spantest"
)

// sp describes one test span. ids are short names turned into span ids.
type sp struct {
	name   string
	id     string
	parent string
	scope  string
	kind   ptrace.SpanKind
	attrs  map[string]any
	events []string // domain_event_produced event types
	link   string   // span id this span links to
	flags  uint32   // OTLP span flags (0x300: the parent is remote)
}

func spanID(s string) pcommon.SpanID { return spantest.NamedSpanID(s) }

var testTraceID = pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}

// appendSpans adds spans to td under one resource, one ScopeSpans per scope
// in order of first appearance.
func appendSpans(td ptrace.Traces, service string, spans []sp) {
	b := spantest.Append(td).Service(service)
	for i, s := range spans {
		kind := s.kind
		if kind == ptrace.SpanKindUnspecified {
			kind = ptrace.SpanKindInternal
		}
		start := pcommon.Timestamp(1_763_778_000_000_000_000 + uint64(i)*1_000_000)
		span := b.Scope(s.scope).Span(s.name).
			Trace(testTraceID).ID(spanID(s.id)).Parent(spanID(s.parent)).
			Kind(kind).Flags(s.flags).Times(start, start+500_000).Attrs(s.attrs)
		for _, et := range s.events {
			span.Event(semconv.EventDomainEventProduced, start+100_000, map[string]any{semconv.EventAttrEventType: et})
		}
		if s.link != "" {
			span.Link(testTraceID, spanID(s.link))
		}
	}
}

func tracesOf(service string, spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	appendSpans(td, service, spans)
	return td
}

// cqrsSpans is the shape of the CQRS conventions: command, query and projection
// spans from the cqrs.write/read/projection tracers, with children from
// other instrumentation. p makes ids unique per copy.
func cqrsSpans(p string) []sp {
	return []sp{
		{name: "POST /orders", id: p + "http1", scope: "opentelemetry.instrumentation.fastapi", kind: ptrace.SpanKindServer,
			attrs: map[string]any{"http.request.method": "POST", "http.route": "/orders"}},
		{name: "command.PlaceOrder", id: p + "cmd1", parent: p + "http1", scope: semconv.ScopeWrite, attrs: map[string]any{
			semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: "PlaceOrder",
			semconv.AttrAggregateID: "order-123", semconv.AttrEventsCount: int64(2),
		}, events: []string{"OrderPlaced", "OrderTotalsComputed"}},
		{name: "INSERT orders", id: p + "db1", parent: p + "cmd1", scope: "opentelemetry.instrumentation.sqlalchemy", kind: ptrace.SpanKindClient,
			attrs: map[string]any{semconv.AttrDBSystem: "postgresql"}},
		{name: "command.CancelOrder", id: p + "cmd2", scope: semconv.ScopeWrite},
		{name: "query.GetOrder", id: p + "qry1", scope: semconv.ScopeRead, attrs: map[string]any{
			semconv.AttrSide: semconv.SideRead, semconv.AttrQueryType: "GetOrder", semconv.AttrQueryResultCount: int64(1),
		}},
		{name: "SELECT order_view", id: p + "db2", parent: p + "qry1", scope: "opentelemetry.instrumentation.sqlalchemy", kind: ptrace.SpanKindClient,
			attrs: map[string]any{semconv.AttrDBSystem: "postgresql"}},
		{name: "projection.order_summary", id: p + "prj1", scope: semconv.ScopeProjection, link: p + "cmd1", attrs: map[string]any{
			semconv.AttrSide: semconv.SideProjection, semconv.AttrProjectionName: "order_summary",
			semconv.AttrEventType: "OrderPlaced", semconv.AttrEventAggregateID: "order-123",
			semconv.AttrProjectionLagMs: 42.5, semconv.AttrProjectionStatus: "applied",
		}},
		{name: "UPDATE order_summary", id: p + "db3", parent: p + "prj1", scope: "opentelemetry.instrumentation.sqlalchemy", kind: ptrace.SpanKindClient},
		// A span from the cqrs.write tracer that the conventions do not name.
		{name: "validate", id: p + "val1", parent: p + "cmd1", scope: semconv.ScopeWrite},
	}
}

// eventsourceSpans is the shape of the eventsource runtime conventions (eventsource-py): repository and
// store spans, and a distributed publish -> consume -> dispatch -> handle.
func eventsourceSpans(p string) []sp {
	return []sp{
		{name: "task_service.create_task", id: p + "svc1", scope: "__main__", attrs: map[string]any{
			semconv.AttrESAggregateID: "task-1", semconv.AttrESAggregateType: "Task", semconv.AttrESEventCount: int64(1),
		}},
		{name: semconv.SpanRepositorySave, id: p + "save1", parent: p + "svc1", scope: "eventsource.aggregates.repository", attrs: map[string]any{
			semconv.AttrESAggregateID: "task-1", semconv.AttrESAggregateType: "Task", semconv.AttrESEventCount: int64(1),
		}},
		{name: semconv.EventStoreSQLite + semconv.SpanSuffixAppendEvents, id: p + "app1", parent: p + "save1", scope: "eventsource.stores.sqlite", attrs: map[string]any{
			semconv.AttrESAggregateID: "task-1", semconv.AttrESAggregateType: "Task", semconv.AttrESEventCount: int64(1),
			semconv.AttrESExpectedVersion: int64(0), semconv.AttrDBSystem: "sqlite", semconv.AttrESPosition: int64(17),
		}},
		{name: semconv.SpanOutboxAdd, id: p + "obx1", parent: p + "save1", scope: "eventsource.outbox"},
		{name: semconv.SpanRepositoryLoad, id: p + "load1", scope: "eventsource.aggregates.repository", attrs: map[string]any{
			semconv.AttrESAggregateID: "task-1", semconv.AttrESAggregateType: "Task",
		}},
		{name: semconv.EventStoreSQLite + semconv.SpanSuffixGetEvents, id: p + "get1", parent: p + "load1", scope: "eventsource.stores.sqlite", attrs: map[string]any{
			semconv.AttrESAggregateID: "task-1", semconv.AttrESFromVersion: int64(0), semconv.AttrDBSystem: "sqlite",
		}},
		{name: semconv.SpanSnapshotGet, id: p + "snap1", parent: p + "load1", scope: "eventsource.snapshots"},
		{name: semconv.SpanBusPublish, id: p + "pub1", scope: "eventsource.bus.kafka", kind: ptrace.SpanKindProducer, attrs: map[string]any{
			semconv.AttrMessagingSystem: "kafka", semconv.AttrESEventType: "OrderCreated", semconv.AttrESAggregateID: "order-123",
			semconv.AttrMessagingDestination: "orders.events",
		}},
		{name: semconv.SpanBusConsume, id: p + "con1", parent: p + "pub1", scope: "eventsource.bus.kafka", kind: ptrace.SpanKindConsumer, attrs: map[string]any{
			semconv.AttrESEventType: "OrderCreated",
		}},
		{name: semconv.SpanBusDispatch, id: p + "dis1", parent: p + "con1", scope: "eventsource.bus.kafka", attrs: map[string]any{
			semconv.AttrESHandlerCount: int64(2),
		}},
		{name: semconv.SpanBusHandle, id: p + "hdl1", parent: p + "dis1", scope: "eventsource.bus.kafka", attrs: map[string]any{
			semconv.AttrESHandlerName: "OrderProjection", semconv.AttrESHandlerSuccess: true,
		}},
		{name: semconv.SpanProjectionHandle, id: p + "ph1", parent: p + "hdl1", scope: "eventsource.projections", attrs: map[string]any{
			semconv.AttrESProjectionName: "OrderProjection", semconv.AttrESEventType: "OrderCreated",
			semconv.AttrESEventTimestamp: int64(1_763_777_999_990),
		}},
		{name: semconv.SpanRepositoryLoad, id: p + "load2", parent: p + "ph1", scope: "eventsource.aggregates.repository"},
		{name: semconv.SpanCheckpointUpdate, id: p + "cp1", parent: p + "hdl1", scope: "eventsource.projections", attrs: map[string]any{
			semconv.AttrESProjectionName: "OrderProjection", semconv.AttrESPosition: int64(17),
		}},
		{name: semconv.SpanBusHandle, id: p + "hdl2", parent: p + "dis1", scope: "eventsource.bus.kafka", attrs: map[string]any{
			semconv.AttrESHandlerName: "NotificationService", semconv.AttrESHandlerSuccess: false, semconv.AttrErrorType: "TimeoutError",
		}},
		{name: semconv.SpanDLQAdd, id: p + "dlq1", parent: p + "hdl2", scope: "eventsource.dlq", attrs: map[string]any{
			semconv.AttrESEventID: "evt-9", semconv.AttrErrorType: "TimeoutError",
		}},
		{name: "send_email", id: p + "mail1", parent: p + "hdl2", scope: "notifications", kind: ptrace.SpanKindClient},
	}
}

// inheritanceSpans shows the ancestor rules within one batch.
func inheritanceSpans() []sp {
	return []sp{
		// repository.load and get_events under a command: write.
		{name: "command.ShipOrder", id: "c", scope: "app"},
		{name: semconv.SpanRepositoryLoad, id: "c-load", parent: "c", scope: "repo"},
		{name: semconv.EventStorePostgreSQL + semconv.SpanSuffixGetEvents, id: "c-get", parent: "c-load", scope: "store"},
		{name: semconv.SpanSnapshotGet, id: "c-snap", parent: "c-load", scope: "store"},
		// The same under a projection: projection.
		{name: "projection.shipping_view", id: "p", scope: "app"},
		{name: semconv.SpanRepositoryExists, id: "p-exists", parent: "p", scope: "repo"},
		{name: semconv.EventStoreInMemory + semconv.SpanSuffixGetEvents, id: "p-get", parent: "p", scope: "store"},
		// At the root: read; its children inherit read.
		{name: semconv.SpanRepositoryLoad, id: "r-load", scope: "repo"},
		{name: semconv.EventStorePostgreSQL + semconv.SpanSuffixGetEvents, id: "r-get", parent: "r-load", scope: "store"},
		// Unknown spans inherit from the nearest classified ancestor...
		{name: "HTTP GET", id: "c-http", parent: "c-load", scope: "http", kind: ptrace.SpanKindClient},
		{name: "deep", id: "c-deep", parent: "c-http", scope: "misc"},
		// ...and stay unclassified without one.
		{name: "GET /health", id: "u-root", scope: "http", kind: ptrace.SpanKindServer},
		{name: "check", id: "u-child", parent: "u-root", scope: "misc"},
		// A load below an unclassified root falls back to read.
		{name: semconv.SpanRepositoryLoad, id: "u-load", parent: "u-root", scope: "repo"},
		// Children listed before their parent still inherit.
		{name: "early child", id: "q-child", parent: "q", scope: "misc"},
		{name: "query.ListOrders", id: "q", scope: "app"},
		// A parent-id cycle: both fall back, nothing loops.
		{name: semconv.SpanSnapshotExists, id: "cy-a", parent: "cy-b", scope: "store"},
		{name: "cycle", id: "cy-b", parent: "cy-a", scope: "misc"},
	}
}

func mixedBatch(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	for c := 0; td.SpanCount() < n; c++ {
		p := fmt.Sprintf("%04d", c)
		appendSpans(td, "order-service", cqrsSpans(p))
		appendSpans(td, "tutorial-20-app", eventsourceSpans(p))
	}
	return td
}
