// Package eventsourcepy builds traces shaped exactly as the Python library eventsource-py 0.14.0
// emits them (testdata/eventsource-py-0.14/ is the catalogue, extracted from its source; NOTES.md
// there cites the lines). Component golden tests and the end-to-end tests share it, so every test of
// "what the real library sends" sends the same thing.
//
// Shapes worth knowing (all from 0.14's source):
//   - event stores create no spans: an append shows only as eventsource.repository.save;
//   - the Kafka producer span is never current, and the record headers carry the caller's context
//     (repository.save), so consume is a remote child of save, a sibling of the producer span;
//   - per-event subscription spans are live_runner.process_event / catchup_runner.deliver_event,
//     named by eventsource.subscription.name, positions are JSON tokens {"s":"<store>","k":[n]};
//   - RabbitMQ handle spans and Redis process spans are roots of their own traces;
//   - the Python OTLP exporter flags spans whose parent is remote (span flags 0x300).
package eventsourcepy // import "github.com/otelcol-es/otelcol-es/internal/eventsourcepy"

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Instrumentation scopes: eventsource-py names each tracer after its module.
const (
	ScopeRepository  = "eventsource.application.aggregates.repository"
	ScopeSnapshots   = "eventsource.adapters.postgresql.snapshots"
	ScopeOutbox      = "eventsource.adapters.postgresql.outbox"
	ScopeKafka       = "eventsource.adapters.kafka.bus"
	ScopeRabbitMQ    = "eventsource.adapters.rabbitmq.bus"
	ScopeRedis       = "eventsource.adapters.redis.bus"
	ScopeProjections = "eventsource.application.projections.base"
	ScopeReadModels  = "eventsource.adapters.postgresql.readmodels"
	ScopeCheckpoints = "eventsource.adapters.sql.checkpoints"
	ScopeLive        = "eventsource.application.subscriptions.runners.live"
	ScopeCatchup     = "eventsource.application.subscriptions.runners.catchup"
	ScopeTransition  = "eventsource.application.subscriptions.transition"
	ScopeLifecycle   = "eventsource.application.subscriptions.lifecycle"
	ScopeWeb         = "opentelemetry.instrumentation.fastapi"
)

// remoteParent is what the Python OTLP exporter sets on a span whose parent was extracted from a
// carrier: SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK.
const remoteParent = 0x300

// Span is one span of a flow.
type Span struct {
	Service, Scope, Name string
	Kind                 ptrace.SpanKind
	Trace                pcommon.TraceID
	ID, Parent           pcommon.SpanID
	// RemoteParent: the parent was extracted from message headers (another process).
	RemoteParent bool
	Start, End   time.Time
	Attrs        map[string]any
}

// ID derives a stable span id from a readable name.
func ID(name string) pcommon.SpanID {
	h := sha256.Sum256([]byte(name))
	var id pcommon.SpanID
	copy(id[:], h[:8])
	return id
}

// TraceID derives a stable trace id from a readable name.
func TraceID(name string) pcommon.TraceID {
	h := sha256.Sum256([]byte("trace/" + name))
	var id pcommon.TraceID
	copy(id[:], h[:16])
	return id
}

// Position is eventsource-py's Position.to_str() for a SQL store: {"s":"pg:<db>","k":[n]}.
func Position(db string, n int64) string { return fmt.Sprintf(`{"s":"pg:%s","k":[%d]}`, db, n) }

// Traces puts spans into one ptrace.Traces: a ResourceSpans per service and a ScopeSpans per scope,
// in order of first appearance, as an SDK exporter of each service would.
func Traces(spans ...Span) ptrace.Traces {
	td := ptrace.NewTraces()
	type key struct{ service, scope string }
	rsOf := map[string]ptrace.ResourceSpans{}
	ssOf := map[key]ptrace.SpanSlice{}
	for _, s := range spans {
		rs, ok := rsOf[s.Service]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr(semconv.AttrServiceName, s.Service)
			rs.Resource().Attributes().PutStr("telemetry.sdk.language", "python")
			rsOf[s.Service] = rs
		}
		ss, ok := ssOf[key{s.Service, s.Scope}]
		if !ok {
			sc := rs.ScopeSpans().AppendEmpty()
			sc.Scope().SetName(s.Scope)
			ss = sc.Spans()
			ssOf[key{s.Service, s.Scope}] = ss
		}
		span := ss.AppendEmpty()
		span.SetName(s.Name)
		kind := s.Kind
		if kind == ptrace.SpanKindUnspecified {
			kind = ptrace.SpanKindInternal
		}
		span.SetKind(kind)
		span.SetTraceID(s.Trace)
		span.SetSpanID(s.ID)
		span.SetParentSpanID(s.Parent)
		if s.RemoteParent {
			span.SetFlags(remoteParent)
		} else {
			// The exporter knows whether the parent is remote, and says so.
			span.SetFlags(0x100)
		}
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(s.Start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(s.End))
		if err := span.Attributes().FromRaw(s.Attrs); err != nil {
			panic(err)
		}
	}
	return td
}

// Write is a web request that changes an aggregate: load (with a snapshot read), then save, which
// adds the event to the outbox and publishes it to Kafka from inside the save.
type Write struct {
	Service     string
	Trace       string // trace name; ids derive from it
	Start       time.Time
	AggregateID string
	EventID     string
	EventType   string
	Topic       string
}

// Spans returns the writer's spans; Save is the span whose context the Kafka headers carry.
func (w Write) Spans() (spans []Span, save Span) {
	tr := TraceID(w.Trace)
	at := func(ms int) time.Time { return w.Start.Add(time.Duration(ms) * time.Millisecond) }
	agg := map[string]any{semconv.AttrESAggregateID: w.AggregateID, semconv.AttrESAggregateType: "Order"}
	root := Span{Service: w.Service, Scope: ScopeWeb, Name: "POST /orders", Kind: ptrace.SpanKindServer,
		Trace: tr, ID: ID(w.Trace + "/http"), Start: at(0), End: at(40),
		Attrs: map[string]any{"http.request.method": "POST", "http.route": "/orders"}}
	load := Span{Service: w.Service, Scope: ScopeRepository, Name: semconv.SpanRepositoryLoad,
		Trace: tr, ID: ID(w.Trace + "/load"), Parent: root.ID, Start: at(1), End: at(6),
		Attrs: union(agg, map[string]any{semconv.AttrESVersion: int64(3), "snapshot.used": true, "snapshot.version": int64(2), "events.replayed": int64(1)})}
	snap := Span{Service: w.Service, Scope: ScopeSnapshots, Name: semconv.SpanSnapshotGet,
		Trace: tr, ID: ID(w.Trace + "/snapshot"), Parent: load.ID, Start: at(2), End: at(3), Attrs: union(agg)}
	save = Span{Service: w.Service, Scope: ScopeRepository, Name: semconv.SpanRepositorySave,
		Trace: tr, ID: ID(w.Trace + "/save"), Parent: root.ID, Start: at(10), End: at(30),
		Attrs: union(agg, map[string]any{semconv.AttrESEventCount: int64(1), semconv.AttrESVersion: int64(3), "new_version": int64(4), "save.success": true})}
	outbox := Span{Service: w.Service, Scope: ScopeOutbox, Name: semconv.SpanOutboxAdd,
		Trace: tr, ID: ID(w.Trace + "/outbox"), Parent: save.ID, Start: at(12), End: at(14),
		Attrs: union(agg, map[string]any{semconv.AttrESEventID: w.EventID, semconv.AttrESEventType: w.EventType, semconv.AttrDBSystem: "postgresql"})}
	publish := Span{Service: w.Service, Scope: ScopeKafka, Name: semconv.SpanPrefixBusPublishTyped + w.EventType,
		Kind: ptrace.SpanKindProducer, Trace: tr, ID: ID(w.Trace + "/publish"), Parent: save.ID, Start: at(15), End: at(25),
		Attrs: union(agg, map[string]any{
			semconv.AttrMessagingSystem: "kafka", semconv.AttrMessagingDestination: w.Topic, "messaging.destination_kind": "topic",
			semconv.AttrMessagingOperation: "publish", semconv.AttrESEventType: w.EventType, semconv.AttrESEventID: w.EventID,
			"messaging.kafka.partition": int64(0), "messaging.kafka.offset": int64(41),
		})}
	return []Span{root, load, snap, save, outbox, publish}, save
}

// LiveApply is a Kafka consumer in another service applying one event to a subscribed projection
// through the live runner: consume (remote child of the writer's save) → dispatch _LiveEventHandler →
// live_runner.process_event → projection.handle → handler → read-model get/save, checkpoints.
type LiveApply struct {
	Service      string
	Trace        string
	Parent       Span // the span whose context the record headers carry (the writer's save)
	Start        time.Time
	Subscription string
	EventID      string
	EventType    string
	Topic        string
	DB           string
	Position     int64
}

// Spans returns the consumer's spans; Apply is live_runner.process_event.
func (l LiveApply) Spans() (spans []Span, apply Span) {
	tr := l.Parent.Trace
	at := func(ms int) time.Time { return l.Start.Add(time.Duration(ms) * time.Millisecond) }
	ev := map[string]any{semconv.AttrESEventID: l.EventID, semconv.AttrESEventType: l.EventType}
	consume := Span{Service: l.Service, Scope: ScopeKafka, Name: semconv.SpanPrefixBusConsumeTyped + l.EventType,
		Kind: ptrace.SpanKindConsumer, Trace: tr, ID: ID(l.Trace + "/consume"), Parent: l.Parent.ID, RemoteParent: true,
		Start: at(0), End: at(30), Attrs: union(ev, map[string]any{
			semconv.AttrMessagingSystem: "kafka", "messaging.source": l.Topic, "messaging.source_kind": "topic",
			semconv.AttrMessagingOperation: "receive", "messaging.kafka.partition": int64(0), "messaging.kafka.offset": int64(41),
			"messaging.kafka.consumer_group": l.Service, semconv.AttrESAggregateID: "order-1", semconv.AttrESAggregateType: "Order",
		})}
	dispatch := Span{Service: l.Service, Scope: ScopeKafka, Name: semconv.SpanPrefixBusDispatchTyped + "_LiveEventHandler",
		Trace: tr, ID: ID(l.Trace + "/dispatch"), Parent: consume.ID, Start: at(1), End: at(29),
		Attrs: union(ev, map[string]any{semconv.AttrESHandlerName: "_LiveEventHandler"})}
	apply = Span{Service: l.Service, Scope: ScopeLive, Name: semconv.SpanLiveRunnerProcessEvent,
		Trace: tr, ID: ID(l.Trace + "/process_event"), Parent: dispatch.ID, Start: at(2), End: at(27),
		Attrs: union(ev, map[string]any{semconv.AttrESSubscriptionName: l.Subscription, semconv.AttrESPosition: Position(l.DB, l.Position)})}
	handle := Span{Service: l.Service, Scope: ScopeProjections, Name: semconv.SpanProjectionHandle,
		Trace: tr, ID: ID(l.Trace + "/handle"), Parent: apply.ID, Start: at(3), End: at(20),
		Attrs: union(ev, map[string]any{semconv.AttrESProjectionName: l.Subscription, "checkpoint.updated": true})}
	handler := Span{Service: l.Service, Scope: ScopeProjections, Name: semconv.SpanProjectionHandler,
		Trace: tr, ID: ID(l.Trace + "/handler"), Parent: handle.ID, Start: at(4), End: at(15),
		Attrs: map[string]any{semconv.AttrESEventType: l.EventType, semconv.AttrESHandlerName: "_on_" + l.EventType, semconv.AttrESProjectionName: l.Subscription}}
	rm := map[string]any{semconv.AttrDBSystem: "postgresql", semconv.AttrESReadModelType: "OrderSummary", semconv.AttrESReadModelID: "order-1"}
	get := Span{Service: l.Service, Scope: ScopeReadModels, Name: semconv.SpanPrefixReadModel + "get",
		Trace: tr, ID: ID(l.Trace + "/rm-get"), Parent: handler.ID, Start: at(5), End: at(7), Attrs: union(rm, map[string]any{semconv.AttrDBOperation: "SELECT"})}
	save := Span{Service: l.Service, Scope: ScopeReadModels, Name: semconv.SpanPrefixReadModel + "save",
		Trace: tr, ID: ID(l.Trace + "/rm-save"), Parent: handler.ID, Start: at(8), End: at(12), Attrs: union(rm, map[string]any{semconv.AttrDBOperation: "UPSERT"})}
	cpm := Span{Service: l.Service, Scope: ScopeProjections, Name: semconv.SpanPrefixCheckpointManager + "update",
		Trace: tr, ID: ID(l.Trace + "/cp-manager"), Parent: handle.ID, Start: at(16), End: at(19),
		Attrs: map[string]any{semconv.AttrESEventType: l.EventType, semconv.AttrESProjectionName: l.Subscription}}
	cpu := Span{Service: l.Service, Scope: ScopeCheckpoints, Name: semconv.SpanCheckpointUpdate,
		Trace: tr, ID: ID(l.Trace + "/cp-update"), Parent: cpm.ID, Start: at(17), End: at(18),
		Attrs: map[string]any{semconv.AttrESEventType: l.EventType, semconv.AttrESProjectionName: l.Subscription}}
	cps := Span{Service: l.Service, Scope: ScopeCheckpoints, Name: semconv.SpanCheckpointSavePosition,
		Trace: tr, ID: ID(l.Trace + "/cp-save"), Parent: apply.ID, Start: at(22), End: at(26),
		Attrs: map[string]any{semconv.AttrESEventType: l.EventType, semconv.AttrESProjectionName: l.Subscription,
			semconv.AttrPositionToken: Position(l.DB, l.Position)}}
	return []Span{consume, dispatch, apply, handle, handler, get, save, cpm, cpu, cps}, apply
}

// Catchup is a subscription starting up and catching up on history: lifecycle.start_subscription →
// transition_coordinator.execute (the store's position as watermark) → catchup_runner.run_until_position
// → one deliver_event (with the projection's handle inside) per event, each followed by a checkpoint.
type Catchup struct {
	Service      string
	Trace        string
	Start        time.Time
	Subscription string
	DB           string
	From, To     int64 // positions delivered: From+1 .. To
	EventType    string
}

// Spans returns the start-up trace; applies are the deliver_event spans.
func (c Catchup) Spans() (spans []Span, applies []Span) {
	tr := TraceID(c.Trace)
	at := func(ms int) time.Time { return c.Start.Add(time.Duration(ms) * time.Millisecond) }
	n := int(c.To - c.From)
	end := at(20 + 10*n)
	sub := map[string]any{semconv.AttrESSubscriptionName: c.Subscription}
	start := Span{Service: c.Service, Scope: ScopeLifecycle, Name: semconv.SpanPrefixLifecycle + "start_subscription",
		Trace: tr, ID: ID(c.Trace + "/start"), Start: at(0), End: end,
		Attrs: union(sub, map[string]any{semconv.AttrESPosition: Position(c.DB, c.From)})}
	exec := Span{Service: c.Service, Scope: ScopeTransition, Name: semconv.SpanTransitionExecute,
		Trace: tr, ID: ID(c.Trace + "/execute"), Parent: start.ID, Start: at(1), End: end,
		Attrs: union(sub, map[string]any{semconv.AttrESPosition: Position(c.DB, c.From),
			semconv.AttrESWatermark: Position(c.DB, c.To), semconv.AttrSubscriptionPhase: semconv.PhaseValueLive})}
	run := Span{Service: c.Service, Scope: ScopeCatchup, Name: semconv.SpanCatchupRunUntilPosition,
		Trace: tr, ID: ID(c.Trace + "/run"), Parent: exec.ID, Start: at(2), End: at(10 + 10*n),
		Attrs: union(sub, map[string]any{semconv.AttrESFromPosition: Position(c.DB, c.From),
			semconv.AttrESToPosition: Position(c.DB, c.To), semconv.AttrESBatchSize: int64(100)})}
	spans = []Span{start, exec, run}
	for i := 0; i < n; i++ {
		pos := c.From + int64(i) + 1
		name := fmt.Sprintf("%s/%d", c.Trace, pos)
		d := Span{Service: c.Service, Scope: ScopeCatchup, Name: semconv.SpanCatchupRunnerDeliverEvent,
			Trace: tr, ID: ID(name + "/deliver"), Parent: run.ID, Start: at(3 + 10*i), End: at(9 + 10*i),
			Attrs: map[string]any{semconv.AttrESSubscriptionName: c.Subscription, semconv.AttrESEventID: fmt.Sprintf("evt-%d", pos),
				semconv.AttrESEventType: c.EventType, semconv.AttrESPosition: Position(c.DB, pos)}}
		h := Span{Service: c.Service, Scope: ScopeProjections, Name: semconv.SpanProjectionHandle,
			Trace: tr, ID: ID(name + "/handle"), Parent: d.ID, Start: at(4 + 10*i), End: at(8 + 10*i),
			Attrs: map[string]any{semconv.AttrESProjectionName: c.Subscription, semconv.AttrESEventID: fmt.Sprintf("evt-%d", pos),
				semconv.AttrESEventType: c.EventType}}
		cp := Span{Service: c.Service, Scope: ScopeCheckpoints, Name: semconv.SpanCheckpointSavePosition,
			Trace: tr, ID: ID(name + "/cp-save"), Parent: run.ID, Start: at(9 + 10*i), End: at(10 + 10*i),
			Attrs: map[string]any{semconv.AttrESProjectionName: c.Subscription, semconv.AttrESEventType: c.EventType,
				semconv.AttrPositionToken: Position(c.DB, pos)}}
		spans = append(spans, d, h, cp)
		applies = append(applies, d)
	}
	return spans, applies
}

// Query is a read request served from a read model: GET → readmodel.get.
func Query(service, trace string, start time.Time) []Span {
	tr := TraceID(trace)
	root := Span{Service: service, Scope: ScopeWeb, Name: "GET /orders/{id}", Kind: ptrace.SpanKindServer,
		Trace: tr, ID: ID(trace + "/http"), Start: start, End: start.Add(8 * time.Millisecond),
		Attrs: map[string]any{"http.request.method": "GET", "http.route": "/orders/{id}"}}
	get := Span{Service: service, Scope: ScopeReadModels, Name: semconv.SpanPrefixReadModel + "get",
		Trace: tr, ID: ID(trace + "/rm-get"), Parent: root.ID, Start: start.Add(time.Millisecond), End: start.Add(6 * time.Millisecond),
		Attrs: map[string]any{semconv.AttrDBSystem: "postgresql", semconv.AttrDBOperation: "SELECT",
			semconv.AttrESReadModelType: "OrderSummary", semconv.AttrESReadModelID: "order-1"}}
	return []Span{root, get}
}

// RabbitRelay is the outbox relay publishing pending events as one batch to RabbitMQ: get_pending,
// publish_batch (PRODUCER) and mark_published are each a root (no span is current in the relay task),
// and the batch's messages carry no trace headers.
func RabbitRelay(service, trace string, start time.Time, events int) []Span {
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	pending := Span{Service: service, Scope: ScopeOutbox, Name: semconv.SpanOutboxGetPending,
		Trace: TraceID(trace + "/pending"), ID: ID(trace + "/pending"), Start: at(0), End: at(2),
		Attrs: map[string]any{"limit": int64(100), semconv.AttrDBSystem: "postgresql", semconv.AttrESEventCount: int64(events)}}
	batch := Span{Service: service, Scope: ScopeRabbitMQ, Name: semconv.SpanBusPublishBatch, Kind: ptrace.SpanKindProducer,
		Trace: TraceID(trace + "/batch"), ID: ID(trace + "/batch"), Start: at(3), End: at(9),
		Attrs: map[string]any{semconv.AttrMessagingSystem: "rabbitmq", semconv.AttrMessagingDestination: "orders",
			"messaging.destination_kind": "exchange", semconv.AttrESEventCount: int64(events), "messaging.batch.size": int64(events),
			"messaging.batch.published": int64(events), "messaging.batch.failed": int64(0)}}
	marked := Span{Service: service, Scope: ScopeOutbox, Name: semconv.SpanOutboxMarkPublished,
		Trace: TraceID(trace + "/marked"), ID: ID(trace + "/marked"), Start: at(10), End: at(11),
		Attrs: map[string]any{"outbox.id": "ob-1", semconv.AttrDBSystem: "postgresql"}}
	return []Span{pending, batch, marked}
}

// RabbitConsume is a RabbitMQ consumer: the consume span (a root, since batch-published messages
// carry no headers) and, in a trace of its own, the handle span (started with no context) with the
// live runner and projection inside it.
func RabbitConsume(service, trace string, start time.Time, subscription, eventID, eventType, db string, pos int64) []Span {
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	ev := eventID
	consume := Span{Service: service, Scope: ScopeRabbitMQ, Name: semconv.SpanBusConsume, Kind: ptrace.SpanKindConsumer,
		Trace: TraceID(trace + "/consume"), ID: ID(trace + "/consume"), Start: at(0), End: at(1),
		Attrs: map[string]any{semconv.AttrMessagingSystem: "rabbitmq", semconv.AttrMessagingDestination: "orders.projector",
			"messaging.destination_kind": "queue", "messaging.message_id": "m-" + ev, semconv.AttrESEventType: eventType,
			"messaging.rabbitmq.routing_key": eventType, "event.id": ev, semconv.AttrESHandlerCount: int64(1)}}
	ht := TraceID(trace + "/handle")
	handle := Span{Service: service, Scope: ScopeRabbitMQ, Name: semconv.SpanBusHandle,
		Trace: ht, ID: ID(trace + "/handle"), Start: at(1), End: at(20),
		Attrs: map[string]any{semconv.AttrESHandlerName: "_LiveEventHandler", semconv.AttrESEventType: eventType,
			semconv.AttrESEventID: ev, "handler.duration_ms": 19.0, semconv.AttrESHandlerSuccess: true}}
	apply := Span{Service: service, Scope: ScopeLive, Name: semconv.SpanLiveRunnerProcessEvent,
		Trace: ht, ID: ID(trace + "/process_event"), Parent: handle.ID, Start: at(2), End: at(18),
		Attrs: map[string]any{semconv.AttrESSubscriptionName: subscription, semconv.AttrESEventID: ev,
			semconv.AttrESEventType: eventType, semconv.AttrESPosition: Position(db, pos)}}
	ph := Span{Service: service, Scope: ScopeProjections, Name: semconv.SpanProjectionHandle,
		Trace: ht, ID: ID(trace + "/ph"), Parent: apply.ID, Start: at(3), End: at(15),
		Attrs: map[string]any{semconv.AttrESProjectionName: subscription, semconv.AttrESEventID: ev, semconv.AttrESEventType: eventType}}
	save := Span{Service: service, Scope: ScopeReadModels, Name: semconv.SpanPrefixReadModel + "save",
		Trace: ht, ID: ID(trace + "/rm-save"), Parent: ph.ID, Start: at(5), End: at(10),
		Attrs: map[string]any{semconv.AttrDBSystem: "postgresql", semconv.AttrDBOperation: "UPSERT",
			semconv.AttrESReadModelType: "OrderSummary", semconv.AttrESReadModelID: "order-1"}}
	return []Span{consume, handle, apply, ph, save}
}

// RedisConsume is a Redis Streams consumer: process (a root: Redis carries no trace context) →
// dispatch → handle → the subscriber's spans.
func RedisConsume(service, trace string, start time.Time, handler, eventType string) []Span {
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	tr := TraceID(trace)
	ev := map[string]any{semconv.AttrESEventType: eventType, semconv.AttrESEventID: "evt-r1", semconv.AttrMessagingSystem: "redis"}
	process := Span{Service: service, Scope: ScopeRedis, Name: semconv.SpanBusProcess,
		Trace: tr, ID: ID(trace + "/process"), Start: at(0), End: at(20),
		Attrs: union(ev, map[string]any{"message.id": "1700000000000-0", "consumer.name": service + "-1", "processing.success": true})}
	dispatch := Span{Service: service, Scope: ScopeRedis, Name: semconv.SpanBusDispatch,
		Trace: tr, ID: ID(trace + "/dispatch"), Parent: process.ID, Start: at(1), End: at(19),
		Attrs: union(ev, map[string]any{semconv.AttrESHandlerCount: int64(1), semconv.AttrESAggregateID: "order-1"})}
	handle := Span{Service: service, Scope: ScopeRedis, Name: semconv.SpanBusHandle,
		Trace: tr, ID: ID(trace + "/handle"), Parent: dispatch.ID, Start: at(2), End: at(18),
		Attrs: union(ev, map[string]any{semconv.AttrESHandlerName: handler, semconv.AttrESHandlerSuccess: true})}
	work := Span{Service: service, Scope: "app.notifications", Name: "send_confirmation_email", Kind: ptrace.SpanKindClient,
		Trace: tr, ID: ID(trace + "/email"), Parent: handle.ID, Start: at(3), End: at(15)}
	return []Span{process, dispatch, handle, work}
}

// union returns a new map holding every key of ms; a later map wins.
func union(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}
