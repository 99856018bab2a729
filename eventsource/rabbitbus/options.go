package rabbitbus

import (
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// Option configures a Bus's telemetry. They mirror eventsource's options of
// the same names (eventsource.Option cannot be read outside its package).
type Option func(*buswire.Telemetry)

// WithTracerProvider sets the TracerProvider. Without it the global provider
// is used, looked up at each span start so it may be installed later.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(t *buswire.Telemetry) { t.TracerProvider = tp }
}

// WithTracing switches the bus's spans on or off (on by default). Trace
// context is propagated through the message headers either way.
func WithTracing(enabled bool) Option {
	return func(t *buswire.Telemetry) { t.Tracing = enabled }
}

// WithPropagator sets the propagator that writes and reads the message
// headers (default: W3C trace context and baggage). Pass
// otel.GetTextMapPropagator() to follow the global one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(t *buswire.Telemetry) { t.Propagator = p }
}
