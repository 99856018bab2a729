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
