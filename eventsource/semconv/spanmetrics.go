package semconv

import "strings"

// Resource attribute keys of the OpenTelemetry resource conventions that the
// spanmetrics_es connector carries on the metrics it emits.
const (
	AttrServiceName       = "service.name"
	AttrServiceInstanceID = "service.instance.id"
	// AttrCollectorInstanceID names the collector replica that aggregated a
	// series, so replicas behind a load balancer never write the same series.
	AttrCollectorInstanceID = "otelcol.instance.id"
	// UnknownServiceName is used when a span's resource has no service.name
	// (as the OpenTelemetry SDKs do).
	UnknownServiceName = "unknown_service"
)

// Keys of span and trace identifiers as some SDKs and loggers copy them onto
// spans as attributes.
const (
	AttrTraceIDUnderscore = "trace_id"
	AttrSpanIDUnderscore  = "span_id"
	AttrTraceIDDot        = "trace.id"
	AttrSpanIDDot         = "span.id"
)

// unboundedKeys are attribute keys whose values are unique per aggregate,
// event, trace or span: as metric dimensions they would create one series
// per entity and exhaust any cardinality limit.
var unboundedKeys = []string{
	AttrAggregateID, AttrEventAggregateID, AttrESAggregateID, AttrESEventID,
	AttrTraceIDUnderscore, AttrSpanIDUnderscore, AttrTraceIDDot, AttrSpanIDDot,
}

// unboundedSuffixes catch the same identifiers under other prefixes
// (e.g. "order.aggregate_id", "kafka.event.id").
var unboundedSuffixes = []string{
	".aggregate.id", ".aggregate_id", "aggregate_id", ".event.id", ".event_id", "event_id",
	".trace_id", ".span_id", ".trace.id", ".span.id",
}

// IsUnboundedKey reports whether an attribute key holds per-entity
// identifiers (aggregate, event, trace or span ids) and must therefore never
// become a metric dimension.
func IsUnboundedKey(key string) bool {
	for _, k := range unboundedKeys {
		if key == k {
			return true
		}
	}
	for _, s := range unboundedSuffixes {
		if strings.HasSuffix(key, s) {
			return true
		}
	}
	return false
}

// Metrics added by the spanmetrics_es connector beyond semconv.go's set.
const (
	// MetricProjectionReplayLag is the lag of projection applies made while
	// replaying (rebuilding) a projection, kept apart from MetricProjectionLag
	// so a rebuild never looks like live lag.
	MetricProjectionReplayLag = "cqrs.projection.replay.lag"
)
