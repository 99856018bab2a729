package eventsource

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a runtime component's telemetry.
type Option func(*options)

type options struct {
	tp      trace.TracerProvider
	tracing bool
	mp      metric.MeterProvider
}

func newOptions(defaultTracing bool, opts []Option) options {
	o := options{tracing: defaultTracing}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithTracerProvider sets the TracerProvider. Without it the global provider
// (otel.SetTracerProvider) is used, looked up at each span start so it may be
// installed after the components are built.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithTracing switches a component's spans on or off. It is on by default
// for every component.
func WithTracing(enabled bool) Option {
	return func(o *options) { o.tracing = enabled }
}

// WithMeterProvider switches on the cqrs.* metrics (cqrs.command.duration
// and the rest) on the command bus, query bus and projection runners. They
// are off by default because the otelcol-es collector derives them from spans;
// emitting both would double-count.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.mp = mp }
}
