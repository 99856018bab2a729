package semconv

// Names used by the embedded eventsource runtime module only. They live here,
// next to the shared conventions, so no string is repeated across the repo.

// ScopeRuntime is the tracer and meter name of the runtime's own components
// (stores, repository, buses, checkpoints, DLQ). Seed-000 spans keep the
// cqrs.write / cqrs.read / cqrs.projection scopes.
const ScopeRuntime = "github.com/otelcol-es/otelcol-es/eventsource"

// Runtime-only span names.
const (
	// SpanSuffixReadAll reads the global log from a position (catch-up).
	SpanSuffixReadAll = "_event_store.read_all"
	// SpanProjectionReplay wraps a projection's catch-up / rebuild.
	SpanProjectionReplay = "eventsource.projection.replay"
	// SpanOutboxIncrementRetry records a failed publish of an outbox entry (eventsource-py's name).
	SpanOutboxIncrementRetry = "eventsource.outbox.increment_retry"
	// SpanOutboxMarkFailed gives an outbox entry up (eventsource-py's name).
	SpanOutboxMarkFailed = "eventsource.outbox.mark_failed"
	// SpanOutboxCleanup deletes old published outbox entries (eventsource-py's name).
	SpanOutboxCleanup = "eventsource.outbox.cleanup"
	// SpanOutboxGetStats counts an outbox's entries by state (eventsource-py's name).
	SpanOutboxGetStats = "eventsource.outbox.get_stats"

	// The outbox's state as gauges (eventsource-py has none): entries pending and given up, and the
	// age of the oldest pending one in seconds (0 when none is pending).
	MetricOutboxPending          = "eventsource.outbox.pending"
	MetricOutboxFailed           = "eventsource.outbox.failed"
	MetricOutboxOldestPendingAge = "eventsource.outbox.oldest_pending_age"
)

// Attribute values written by the runtime.
const (
	MessagingSystemInMemory      = "in_memory"
	DBSystemSQLite               = "sqlite"
	DBSystemPostgreSQL           = "postgresql"
	ProjectionStatusApplied      = "applied"
	ProjectionStatusFailed       = "failed"
	ProjectionStatusDeadLettered = "dead_lettered"
)

// Attribute values of the eventsource.dlq.* spans.
const (
	// DBSystemMemory is the db.system of eventsource-py's in-memory DLQ spans (adapters/memory/dlq.py);
	// its SQL DLQ (adapters/sql/dlq.py) and all its snapshot stores write no db.system.
	DBSystemMemory = "memory"
	// DLQStatusFailed is the status_filter of eventsource.dlq.get: the entries not resolved
	// (eventsource-py's default status of get_failed_events).
	DLQStatusFailed = "failed"
	// DLQLimitNone is the limit of an eventsource.dlq.get that returns every entry: -1, the value
	// eventsource-py itself uses for "unbounded" (eventsource.lock.timeout).
	DLQLimitNone = -1
)

// Runtime-only attribute keys.
const (
	// AttrOutboxID identifies an outbox entry (unprefixed in eventsource-py, as "outbox.id").
	AttrOutboxID = "outbox.id"
	// AttrLimit is the batch limit of eventsource.outbox.get_pending (unprefixed in eventsource-py).
	AttrLimit = "limit"
	// AttrError is the publish error of eventsource.outbox.increment_retry and mark_failed, cut to 100
	// characters (unprefixed in eventsource-py).
	AttrError = "error"
	// AttrOlderThanDays is the age of the entries eventsource.outbox.cleanup deletes (unprefixed in eventsource-py).
	AttrOlderThanDays = "older_than_days"
	// AttrDeletedCount is how many entries eventsource.outbox.cleanup deleted (unprefixed in eventsource-py).
	AttrDeletedCount = "deleted_count"

	// AttrESDLQID identifies a dead-letter entry.
	AttrESDLQID = AttrDLQID
)

// Unprefixed attribute keys of eventsource-py's eventsource.dlq.* spans.
const (
	// AttrStatusFilter is the status eventsource.dlq.get selects.
	AttrStatusFilter = "status_filter"
	// AttrResolvedBy names who resolved a dead letter, on eventsource.dlq.resolve; absent when
	// nobody is named (eventsource-py drops an empty resolved_by).
	AttrResolvedBy = "resolved_by"
)

// EventApplyFailed is a span event on projection.<name> for each failed attempt.
const EventApplyFailed = "apply_failed"

// EventPublishFailed is a span event on eventsource.repository.save (or a
// retry's span) for each failed attempt to publish stored events; the save
// itself succeeded.
const EventPublishFailed = "publish_failed"

// Event metadata keys carrying W3C trace context (the propagator's own names).
const (
	MetadataTraceparent = "traceparent"
	MetadataTracestate  = "tracestate"
)

// Log record keys added by the runtime's slog handler.
const (
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"
)

// Units of the seed metrics.
const (
	UnitMilliseconds = "ms"
	UnitOne          = "1"
)
