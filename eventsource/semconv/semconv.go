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

// eventsource runtime attribute keys (seed 001's ATTR_* constants), plus the
// runtime module's additions (event timestamp, phase).
const (
	AttrESAggregateID     = "eventsource.aggregate.id"
	AttrESAggregateType   = "eventsource.aggregate.type"
	AttrESEventID         = "eventsource.event.id"
	AttrESEventType       = "eventsource.event.type"
	AttrESEventCount      = "eventsource.event.count"
	AttrESEventTimestamp  = "eventsource.event.timestamp"
	AttrESVersion         = "eventsource.version"
	AttrESExpectedVersion = "eventsource.expected_version"
	AttrESFromVersion     = "eventsource.from_version"
	AttrESProjectionName  = "eventsource.projection.name"
	AttrESHandlerName     = "eventsource.handler.name"
	AttrESHandlerCount    = "eventsource.handler.count"
	AttrESHandlerSuccess  = "eventsource.handler.success"
	AttrESPosition        = "eventsource.position"
	AttrESPhase           = "eventsource.projection.phase"
	AttrESRetryCount      = "eventsource.retry_count"
	// AttrSubscriptionPhase is eventsource-py's subscription phase attribute.
	AttrSubscriptionPhase = "subscription.phase"

	AttrDBSystem             = "db.system"
	AttrDBName               = "db.name"
	AttrDBOperation          = "db.operation"
	AttrMessagingSystem      = "messaging.system"
	AttrMessagingDestination = "messaging.destination"
	AttrErrorType            = "error.type"
)

// Span event names and their attributes (seed 000).
const (
	EventDomainEventProduced = "domain_event_produced"
	EventAttrEventType       = "event.type"
)

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
// projection: seed 000's "projection.<name>" or seed 001's
// "eventsource.projection.handle". Lag and projection throughput are
// measured on these spans only, so one event applied counts once.
func IsProjectionApply(spanName string) bool {
	return spanName == SpanProjectionHandle || strings.HasPrefix(spanName, SpanPrefixProjection)
}

// IsAppend reports whether a span appends events to an event store
// ("<store>_event_store.append_events").
func IsAppend(spanName string) bool { return strings.HasSuffix(spanName, SpanSuffixAppendEvents) }

// IsCheckpointUpdate reports whether a span records a projection checkpoint.
func IsCheckpointUpdate(spanName string) bool { return spanName == SpanCheckpointUpdate }
