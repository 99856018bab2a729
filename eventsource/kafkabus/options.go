package kafkabus

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Bus's telemetry. They mirror eventsource's options of
// the same names (eventsource.Option cannot be read outside its package).
type Option func(*options)

type options struct {
	tp         trace.TracerProvider
	tracing    bool
	mp         metric.MeterProvider
	propagator propagation.TextMapPropagator
}

func newOptions(opts []Option) options {
	o := options{tracing: true}
	for _, opt := range opts {
		opt(&o)
	}
	if o.propagator == nil {
		// The wire contract with eventsource-py is W3C traceparent/tracestate
		// plus baggage, so this is the default whatever the global propagator is.
		o.propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return o
}

// WithTracerProvider sets the TracerProvider. Without it the global provider
// is used, looked up at each span start so it may be installed later.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithTracing switches the bus's spans on or off (on by default). Trace
// context is propagated through the record headers either way.
func WithTracing(enabled bool) Option {
	return func(o *options) { o.tracing = enabled }
}

// WithMeterProvider sets the MeterProvider for the kafka.eventbus.* metrics.
// Without it the global provider is used (eventsource-py emits them by
// default too: they are not derived by the collector, so nothing double-counts).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.mp = mp }
}

// WithPropagator sets the propagator that writes and reads the record
// headers (default: W3C trace context and baggage). Pass
// otel.GetTextMapPropagator() to follow the global one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

func (o options) tracer() trace.Tracer {
	if !o.tracing {
		return nil
	}
	if o.tp != nil {
		return o.tp.Tracer(TracerName)
	}
	return otel.GetTracerProvider().Tracer(TracerName)
}

func (o options) meterProvider() metric.MeterProvider {
	if o.mp != nil {
		return o.mp
	}
	return otel.GetMeterProvider()
}
