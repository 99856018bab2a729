package buswire

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is what a bus's options set: where its spans and metrics go and
// how trace context crosses the broker.
type Telemetry struct {
	TracerProvider trace.TracerProvider // nil: the global one, looked up at each span start
	Tracing        bool
	MeterProvider  metric.MeterProvider // nil: the global one
	Propagator     propagation.TextMapPropagator
}

// NewTelemetry applies a bus's options to the defaults: tracing on, and W3C
// traceparent/tracestate plus baggage, the wire contract with eventsource-py,
// whatever the global propagator is.
func NewTelemetry[O ~func(*Telemetry)](opts []O) Telemetry {
	t := Telemetry{Tracing: true}
	for _, opt := range opts {
		opt(&t)
	}
	if t.Propagator == nil {
		t.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return t
}

// Tracer is the named tracer, or nil with tracing off. Without a provider the
// global one is looked up on each call, so it may be installed after the bus.
func (t Telemetry) Tracer(name string) trace.Tracer {
	if !t.Tracing {
		return nil
	}
	if t.TracerProvider != nil {
		return t.TracerProvider.Tracer(name)
	}
	return otel.GetTracerProvider().Tracer(name)
}

// Meter is the named meter of the configured or global provider.
func (t Telemetry) Meter(name string) metric.Meter {
	if t.MeterProvider != nil {
		return t.MeterProvider.Meter(name)
	}
	return otel.GetMeterProvider().Meter(name)
}
