// Package semconv is the single source of truth for the span names, attribute
// keys and metric names shared by the eventsource runtime (which emits them)
// and the otelcol-es components (which read and derive from them).
//
// It has no dependencies, so both the runtime module and the collector
// components can import it without pulling in each other's dependency trees.
package semconv

import "strings"

// Sides of a CQRS system.
const (
	SideWrite      = "write"
	SideRead       = "read"
	SideProjection = "projection"
)

// Values of AttrSideSource: why a span got its side.
const (
	SideSourceAttribute  = "attribute"
	SideSourceRule       = "rule"
	SideSourceConvention = "convention"
	SideSourceInherited  = "inherited"
)

// Instrumentation scopes (tracer names) used by seed 000.
const (
	ScopeWrite      = "cqrs.write"
	ScopeRead       = "cqrs.read"
	ScopeProjection = "cqrs.projection"
)

// Span-name prefixes of seed 000: "command.<Type>", "query.<Type>", "projection.<name>".
const (
	SpanPrefixCommand    = "command."
	SpanPrefixQuery      = "query."
	SpanPrefixProjection = "projection."
)

// Span names of the eventsource runtime (seed 001). Event-store spans are
// "<store>_event_store.<op>", e.g. "sqlite_event_store.append_events".
const (
	EventStoreSuffix         = "_event_store"
	SpanSuffixAppendEvents   = "_event_store.append_events"
	SpanSuffixGetEvents      = "_event_store.get_events"
	EventStoreInMemory       = "in_memory"
	EventStoreSQLite         = "sqlite"
	EventStorePostgreSQL     = "postgresql"
	SpanRepositoryLoad       = "eventsource.repository.load"
	SpanRepositorySave       = "eventsource.repository.save"
	SpanRepositoryExists     = "eventsource.repository.exists"
	SpanRepositorySnapshot   = "eventsource.repository.create_snapshot"
	SpanCheckpointGet        = "eventsource.checkpoint.get_checkpoint"
	SpanCheckpointUpdate     = "eventsource.checkpoint.update_checkpoint"
	SpanCheckpointReset      = "eventsource.checkpoint.reset_checkpoint"
	SpanDLQAdd               = "eventsource.dlq.add"
	SpanDLQGet               = "eventsource.dlq.get"
	SpanDLQResolve           = "eventsource.dlq.resolve"
	SpanDLQRetry             = "eventsource.dlq.retry"
	SpanOutboxAdd            = "eventsource.outbox.add"
	SpanOutboxGetPending     = "eventsource.outbox.get_pending"
	SpanOutboxMarkPublished  = "eventsource.outbox.mark_published"
	SpanBusPublish           = "eventsource.event_bus.publish"
	SpanBusConsume           = "eventsource.event_bus.consume"
	SpanBusProcess           = "eventsource.event_bus.process"
	SpanBusDispatch          = "eventsource.event_bus.dispatch"
	SpanBusHandle            = "eventsource.event_bus.handle"
	SpanSnapshotSave         = "eventsource.snapshot.save"
	SpanSnapshotGet          = "eventsource.snapshot.get"
	SpanSnapshotDelete       = "eventsource.snapshot.delete"
	SpanSnapshotExists       = "eventsource.snapshot.exists"
	SpanSnapshotDeleteByType = "eventsource.snapshot.delete_by_type"
	SpanSnapshotClear        = "eventsource.snapshot.clear"
	SpanProjectionHandle     = "eventsource.projection.handle"
	SpanProjectionHandler    = "eventsource.projection.handler"
	SpanPrefixCheckpoint     = "eventsource.checkpoint."
	SpanPrefixDLQ            = "eventsource.dlq."
	SpanPrefixOutbox         = "eventsource.outbox."
	SpanPrefixSnapshot       = "eventsource.snapshot."
	SpanPrefixEventBus       = "eventsource.event_bus."
	SpanPrefixRepository     = "eventsource.repository."
	SpanPrefixProjectionSpan = "eventsource.projection."
)

// Span names of eventsource-py 0.14 beyond the tutorial's (testdata/eventsource-py-0.14/spans.yaml is the
// whole catalogue). The Kafka bus names its spans dynamically: "<prefix><event type>" for publish and
// consume, "<prefix><handler class>" for dispatch.
const (
	SpanPrefixBusPublishTyped     = SpanBusPublish + " "
	SpanPrefixBusConsumeTyped     = SpanBusConsume + " "
	SpanPrefixBusDispatchTyped    = SpanBusDispatch + " "
	SpanBusPublishBatch           = "eventsource.event_bus.publish_batch"
	SpanRepositoryTakeSnapshot    = "eventsource.repository.snapshot"
	SpanRouterAppend              = "eventsource.router.append"
	SpanDualWriteAppend           = "eventsource.dual_write.append"
	SpanCheckpointSavePosition    = "eventsource.checkpoint.save_position"
	SpanLiveRunnerProcessEvent    = "eventsource.live_runner.process_event"
	SpanCatchupRunnerDeliverEvent = "eventsource.catchup_runner.deliver_event"
	SpanCatchupRunUntilPosition   = "eventsource.catchup_runner.run_until_position"
	SpanTransitionExecute         = "eventsource.transition_coordinator.execute"
	SpanPrefixRouter              = "eventsource.router."
	SpanPrefixReadModel           = "eventsource.readmodel."
	SpanPrefixLock                = "eventsource.lock."
	SpanPrefixCheckpointManager   = "eventsource.checkpoint_manager."
	SpanPrefixDLQManager          = "eventsource.dlq_manager."
	SpanPrefixSubscriptionManager = "eventsource.subscription_manager."
	SpanPrefixCatchupRunner       = "eventsource.catchup_runner."
	SpanPrefixLiveRunner          = "eventsource.live_runner."
	SpanPrefixTransition          = "eventsource.transition_coordinator."
	SpanPrefixLifecycle           = "eventsource.lifecycle."
	SpanPrefixPauseResume         = "eventsource.pause_resume."
)

// ReadModelWrites are the operations of eventsource-py's read-model repositories
// ("eventsource.readmodel.<op>") that change a read model: projections run them. Every other
// operation (get, get_many, find, count, exists, get_deleted, find_deleted) reads it.
var ReadModelWrites = []string{"save", "save_many", "save_with_version_check", "delete", "soft_delete", "restore", "truncate"}

// Attribute-key namespaces of the two conventions. A span carrying a key in one of them says it is
// CQRS or event-sourcing work, whatever its name (cqrsside's evidence rule).
const (
	AttrNamespaceCQRS        = "cqrs."
	AttrNamespaceEventsource = "eventsource."
)

// Seed 000 attribute keys (cqrs.*), read on input. Most are also written,
// normalised, by cqrsside.
const (
	AttrSide             = "cqrs.side"
	AttrSideSource       = "cqrs.side.source"
	AttrCommandType      = "cqrs.command.type"
	AttrQueryType        = "cqrs.query.type"
	AttrAggregateID      = "cqrs.aggregate.id"
	AttrAggregateType    = "cqrs.aggregate.type"
	AttrEventsCount      = "cqrs.events.count"
	AttrQueryResultCount = "cqrs.query.result_count"
	AttrProjectionName   = "cqrs.projection.name"
	AttrEventType        = "cqrs.event.type"
	AttrEventAggregateID = "cqrs.event.aggregate_id"
	AttrEventTimestamp   = "cqrs.event.timestamp"
	AttrProjectionStatus = "cqrs.projection.status"
)

// Attributes written by projectionlag.
const (
	AttrProjectionLagMs           = "cqrs.projection.lag_ms"
	AttrProjectionLagSource       = "cqrs.projection.lag.source"
	AttrProjectionPositionsBehind = "cqrs.projection.positions_behind"
	AttrProjectionPhase           = "cqrs.projection.phase"
	AttrConsistencyDelayMs        = "cqrs.consistency.delay_ms"
	// AttrProjectionNested (set by cqrsside, true) marks the apply span of a nesting that is not counted:
	// one event applied, two apply spans (projection.handle inside a subscription runner's
	// process_event). Metrics and lag count the runner's span, or the inner one when that arrived in an
	// earlier batch than the runner's, so the event counts once whatever the order of arrival.
	AttrProjectionNested = "cqrs.projection.nested"
)

// Values of AttrProjectionLagSource.
const (
	LagSourceReported       = "reported"
	LagSourceEventTimestamp = "event_timestamp"
	LagSourceLink           = "link"
)

// Values of AttrProjectionPhase.
const (
	PhaseLive   = "live"
	PhaseReplay = "replay"
)

// eventsource-py's span attribute keys: the ATTR_* constants of its observability/attributes.py,
// spelled exactly as release 0.14 does. EventsourcePyAttributes maps each constant's name to its key;
// a test compares it with testdata/eventsource-py-0.14/attributes.yaml so the two cannot drift.
const (
	AttrESAggregateID         = "eventsource.aggregate.id"
	AttrESAggregateType       = "eventsource.aggregate.type"
	AttrESEventID             = "eventsource.event.id"
	AttrESEventType           = "eventsource.event.type"
	AttrESEventCount          = "eventsource.event.count"
	AttrESVersion             = "eventsource.version"
	AttrESExpectedVersion     = "eventsource.expected_version"
	AttrESTenantID            = "eventsource.tenant.id"
	AttrESProjectionName      = "eventsource.projection.name"
	AttrESHandlerName         = "eventsource.handler.name"
	AttrESHandlerCount        = "eventsource.handler.count"
	AttrESHandlerSuccess      = "eventsource.handler.success"
	AttrESPosition            = "eventsource.position"
	AttrDBSystem              = "db.system"
	AttrDBOperation           = "db.operation"
	AttrMessagingSystem       = "messaging.system"
	AttrMessagingDestination  = "messaging.destination"
	AttrMessagingOperation    = "messaging.operation"
	AttrESSubscriptionName    = "eventsource.subscription.name"
	AttrSubscriptionPhase     = "eventsource.subscription.phase"
	AttrESFromPosition        = "eventsource.from_position"
	AttrESToPosition          = "eventsource.to_position"
	AttrESBatchSize           = "eventsource.batch.size"
	AttrESBufferSize          = "eventsource.buffer.size"
	AttrESEventsProcessed     = "eventsource.events.processed"
	AttrESWatermark           = "eventsource.watermark"
	AttrESRetryCount          = "eventsource.retry.count"
	AttrESErrorType           = "eventsource.error.type"
	AttrESReadModelType       = "eventsource.readmodel.type"
	AttrESReadModelID         = "eventsource.readmodel.id"
	AttrESQueryFilterCount    = "eventsource.query.filter_count"
	AttrESQueryLimit          = "eventsource.query.limit"
	AttrESMigrationID         = "eventsource.migration.id"
	AttrESMigrationPhase      = "eventsource.migration.phase"
	AttrESMigrationTenantID   = "eventsource.migration.tenant_id"
	AttrESMigrationSource     = "eventsource.migration.source_store"
	AttrESMigrationTarget     = "eventsource.migration.target_store"
	AttrESMigrationSyncLagEvt = "eventsource.migration.sync_lag_events"
	AttrESLockKey             = "eventsource.lock.key"
	AttrESLockID              = "eventsource.lock.id"
	AttrESLockTimeout         = "eventsource.lock.timeout"
	AttrESLockAcquired        = "eventsource.lock.acquired"
)

// EventsourcePyAttributes is eventsource-py 0.14's ATTR_* table: constant name -> key.
var EventsourcePyAttributes = map[string]string{
	"ATTR_AGGREGATE_ID": AttrESAggregateID, "ATTR_AGGREGATE_TYPE": AttrESAggregateType,
	"ATTR_EVENT_ID": AttrESEventID, "ATTR_EVENT_TYPE": AttrESEventType, "ATTR_EVENT_COUNT": AttrESEventCount,
	"ATTR_VERSION": AttrESVersion, "ATTR_EXPECTED_VERSION": AttrESExpectedVersion, "ATTR_TENANT_ID": AttrESTenantID,
	"ATTR_PROJECTION_NAME": AttrESProjectionName, "ATTR_HANDLER_NAME": AttrESHandlerName,
	"ATTR_HANDLER_COUNT": AttrESHandlerCount, "ATTR_HANDLER_SUCCESS": AttrESHandlerSuccess,
	"ATTR_POSITION": AttrESPosition, "ATTR_DB_SYSTEM": AttrDBSystem, "ATTR_DB_OPERATION": AttrDBOperation,
	"ATTR_MESSAGING_SYSTEM": AttrMessagingSystem, "ATTR_MESSAGING_DESTINATION": AttrMessagingDestination,
	"ATTR_MESSAGING_OPERATION": AttrMessagingOperation, "ATTR_SUBSCRIPTION_NAME": AttrESSubscriptionName,
	"ATTR_SUBSCRIPTION_PHASE": AttrSubscriptionPhase, "ATTR_FROM_POSITION": AttrESFromPosition,
	"ATTR_TO_POSITION": AttrESToPosition, "ATTR_BATCH_SIZE": AttrESBatchSize, "ATTR_BUFFER_SIZE": AttrESBufferSize,
	"ATTR_EVENTS_PROCESSED": AttrESEventsProcessed, "ATTR_WATERMARK": AttrESWatermark,
	"ATTR_RETRY_COUNT": AttrESRetryCount, "ATTR_ERROR_TYPE": AttrESErrorType,
	"ATTR_READMODEL_TYPE": AttrESReadModelType, "ATTR_READMODEL_ID": AttrESReadModelID,
	"ATTR_QUERY_FILTER_COUNT": AttrESQueryFilterCount, "ATTR_QUERY_LIMIT": AttrESQueryLimit,
	"ATTR_MIGRATION_ID": AttrESMigrationID, "ATTR_MIGRATION_PHASE": AttrESMigrationPhase,
	"ATTR_MIGRATION_TENANT_ID": AttrESMigrationTenantID, "ATTR_MIGRATION_SOURCE_STORE": AttrESMigrationSource,
	"ATTR_MIGRATION_TARGET_STORE": AttrESMigrationTarget, "ATTR_MIGRATION_SYNC_LAG_EVENTS": AttrESMigrationSyncLagEvt,
	"ATTR_LOCK_KEY": AttrESLockKey, "ATTR_LOCK_ID": AttrESLockID, "ATTR_LOCK_TIMEOUT": AttrESLockTimeout,
	"ATTR_LOCK_ACQUIRED": AttrESLockAcquired,
}

// Values of AttrSubscriptionPhase: eventsource-py's TransitionPhase (subscriptions/transition.py).
// The runtime module writes SubscriptionPhase(PhaseReplay), PhaseValueInitialCatchup, on a rebuild and
// PhaseValueLive otherwise; NormalizeProjectionPhase reads every value back as live or replay.
const (
	PhaseValueNotStarted       = "not_started"
	PhaseValueInitialCatchup   = "initial_catchup"
	PhaseValueLiveSubscribed   = "live_subscribed"
	PhaseValueFinalCatchup     = "final_catchup"
	PhaseValueProcessingBuffer = "processing_buffer"
	PhaseValueLive             = "live"
	PhaseValueFailed           = "failed"
)

// Keys outside eventsource-py's ATTR_* table.
const (
	// AttrESEventTimestamp is the event's creation time on an apply span. eventsource-py 0.14 puts it on
	// no span (only in Kafka headers); the runtime module adds it so lag needs no join.
	AttrESEventTimestamp = "eventsource.event.timestamp"
	// AttrESFromVersion was ATTR_FROM_VERSION until eventsource-py 0.14 removed it; still read and written
	// by the runtime module's loads.
	AttrESFromVersion = "eventsource.from_version"
	// AttrESSubscriptionState was ATTR_SUBSCRIPTION_STATE until eventsource-py 0.14 removed it
	// (values starting, catching_up, live, paused, stopped, error); still read as a phase.
	AttrESSubscriptionState = "eventsource.subscription.state"
	// AttrDBName was ATTR_DB_NAME until eventsource-py 0.14; the default head key of positions behind.
	AttrDBName = "db.name"
	// AttrErrorType is OpenTelemetry's error.type, which eventsource-py's Kafka metrics use.
	AttrErrorType = "error.type"
	// AttrMessagingOperationType is the newer OpenTelemetry spelling of AttrMessagingOperation.
	AttrMessagingOperationType = "messaging.operation.type"
	// AttrDLQID identifies a dead-letter entry (unprefixed in eventsource-py, as "dlq.id").
	AttrDLQID = "dlq.id"
	// AttrPositionToken is the position a subscription checkpoint saves (unprefixed in eventsource-py).
	AttrPositionToken = "position_token"
)

// Span event names and their attributes (seed 000).
const (
	EventDomainEventProduced = "domain_event_produced"
	EventAttrEventType       = "event.type"
)

// EventProjectionApplied (written by projectionlag) is put on a write-side span that arrived after a
// projection had already applied its event: it carries the lag and/or consistency delay measured then,
// which spanmetrics_es observes as if the apply span had carried them. Its attributes are the apply's
// AttrProjectionName, AttrEventType, AttrProjectionPhase and AttrServiceName (the apply's service), the
// measured AttrProjectionLagMs (with AttrProjectionLagSource) and/or AttrConsistencyDelayMs (with
// AttrCommandType), the apply span's ids (EventAttrAppliedTraceID, EventAttrAppliedSpanID, hex) and, when
// the apply's trace was sampled with an OpenTelemetry threshold, EventAttrAppliedTraceState ("ot=th:<hex>"),
// so the observation is weighed as the apply span would have been.
const (
	EventProjectionApplied     = "cqrs.projection.applied"
	EventAttrAppliedTraceID    = "cqrs.projection.trace_id"
	EventAttrAppliedSpanID     = "cqrs.projection.span_id"
	EventAttrAppliedTraceState = "cqrs.projection.tracestate"
)

// MetricNamespace starts the name of every metric the collector derives from spans.
const MetricNamespace = "cqrs."

// Metric names (seed 000, plus otelcol-es additions).
const (
	MetricCommandDuration           = "cqrs.command.duration"
	MetricCommandTotal              = "cqrs.command.total"
	MetricEventsProduced            = "cqrs.events.produced"
	MetricQueryDuration             = "cqrs.query.duration"
	MetricQueryTotal                = "cqrs.query.total"
	MetricQueryResultSize           = "cqrs.query.result_size"
	MetricProjectionLag             = "cqrs.projection.lag"
	MetricProjectionDuration        = "cqrs.projection.duration"
	MetricProjectionTotal           = "cqrs.projection.total"
	MetricProjectionPositionsBehind = "cqrs.projection.positions_behind"
	MetricProjectionState           = "cqrs.projection.state"
	MetricConsistencyDelay          = "cqrs.consistency.delay"
)

// Metric attribute keys (seed 000 spelling: no "cqrs." prefix).
const (
	MetricAttrCommandType    = "command.type"
	MetricAttrCommandStatus  = "command.status"
	MetricAttrQueryType      = "query.type"
	MetricAttrQueryStatus    = "query.status"
	MetricAttrProjectionName = "projection.name"
	MetricAttrEventType      = EventAttrEventType
	MetricAttrStatus         = "status"
	MetricAttrPhase          = "phase"
	MetricAttrState          = "state"
	MetricAttrOverflow       = "otel.metric.overflow"
)

// Values of the *.status metric attributes.
const (
	StatusSuccess = "success"
	StatusError   = "error"
)

// Values of the cqrs.projection.state metric's state attribute.
const (
	StateOK      = "ok"
	StateLagging = "lagging"
	StateStalled = "stalled"
	StateStopped = "stopped"
)

// IsProjectionApply reports whether a span applies one event to one
// projection: seed 000's "projection.<name>", seed 001's
// "eventsource.projection.handle", or an eventsource-py subscription runner's
// per-event span. Lag and projection throughput are measured on these spans
// only, and not on one that carries AttrProjectionNested, so one event applied
// counts once.
func IsProjectionApply(spanName string) bool {
	return spanName == SpanProjectionHandle || IsRunnerApply(spanName) || strings.HasPrefix(spanName, SpanPrefixProjection)
}

// IsRunnerApply reports whether a span is an eventsource-py subscription
// runner's apply span (live_runner.process_event, catchup_runner.deliver_event).
// The subscriber's own apply span (projection.handle), if any, runs inside it.
func IsRunnerApply(spanName string) bool {
	return spanName == SpanLiveRunnerProcessEvent || spanName == SpanCatchupRunnerDeliverEvent
}

// IsAppend reports whether a span appends events to an event store
// ("<store>_event_store.append_events").
func IsAppend(spanName string) bool { return strings.HasSuffix(spanName, SpanSuffixAppendEvents) }

// IsEventWrite reports whether a span writes an aggregate's new events,
// naming how many in AttrESEventCount: an event-store append, or, since
// eventsource-py 0.14 traces no store, the repository save, the migration
// router's append or the dual write around it. Nested writes carry the same
// events; count the outermost.
func IsEventWrite(spanName string) bool {
	return IsAppend(spanName) || spanName == SpanRepositorySave || spanName == SpanRouterAppend || spanName == SpanDualWriteAppend
}

// IsStoreRead reports whether a span reads an aggregate's events or snapshot
// for its caller (repository load/exists, the store's get_events, snapshot
// get/exists): it takes its caller's side, and no bus carries its context.
func IsStoreRead(spanName string) bool {
	switch spanName {
	case SpanRepositoryLoad, SpanRepositoryExists, SpanSnapshotGet, SpanSnapshotExists:
		return true
	}
	return strings.HasSuffix(spanName, SpanSuffixGetEvents)
}

// IsCheckpointUpdate reports whether a span records a projection checkpoint: the
// runtimes' update_checkpoint, or an eventsource-py subscription's save_position.
func IsCheckpointUpdate(spanName string) bool {
	return spanName == SpanCheckpointUpdate || spanName == SpanCheckpointSavePosition
}
