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
)

// Attribute values written by the runtime.
const (
	MessagingSystemInMemory      = "in_memory"
	DBSystemSQLite               = "sqlite"
	ProjectionStatusApplied      = "applied"
	ProjectionStatusFailed       = "failed"
	ProjectionStatusDeadLettered = "dead_lettered"
)

// Runtime-only attribute keys.
const (
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
