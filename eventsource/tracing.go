package eventsource

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Tracing is the runtime's TracingMixin: embed it in a service, call
// InitTracing once, then use StartSpan or Traced. A zero Tracing, or one
// initialised with tracing disabled, starts no spans and costs a branch.
type Tracing struct {
	enabled bool
	name    string
	// tracer is set when a provider was given explicitly.
	tracer trace.Tracer
	// global caches the tracer of the current global provider.
	global atomic.Pointer[globalTracer]
}

type globalTracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

// defaultGlobal is the OpenTelemetry API's placeholder provider, returned by
// otel.GetTracerProvider until the application installs one. Spans started
// through it are no-ops that still allocate; the runtime skips them instead,
// which is what makes "no provider" nearly free.
var defaultGlobal = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if fmt.Sprintf("%T", tp) == "*global.tracerProvider" {
		return tp
	}
	return nil
}()

// InitTracing sets the tracer scope name. Options select the provider and
// whether tracing is enabled (default on).
func (t *Tracing) InitTracing(name string, opts ...Option) {
	o := newOptions(true, opts)
	t.init(name, o)
}

func (t *Tracing) init(name string, o options) {
	t.name, t.enabled, t.tracer = name, o.tracing, nil
	t.global.Store(nil)
	if o.tracing && o.tp != nil {
		t.tracer = o.tp.Tracer(name)
	}
}

// TracingEnabled reports whether this component starts spans: tracing is on
// and a provider is given or installed globally.
func (t *Tracing) TracingEnabled() bool { return t.current() != nil }

// current returns the tracer to use now, nil for none.
func (t *Tracing) current() trace.Tracer {
	if t == nil || !t.enabled {
		return nil
	}
	if t.tracer != nil {
		return t.tracer
	}
	tp := otel.GetTracerProvider()
	if tp == defaultGlobal {
		return nil
	}
	if g := t.global.Load(); g != nil && g.tp == tp {
		return g.tracer
	}
	g := &globalTracer{tp: tp, tracer: tp.Tracer(t.name)}
	t.global.Store(g)
	return g.tracer
}

// noopSpan is returned when tracing is off; it never allocates.
var noopSpan = trace.SpanFromContext(context.Background())

// StartSpan starts a span, or returns ctx unchanged and a no-op span when
// tracing is off. Attributes are only attached to recording spans.
func (t *Tracing) StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	tr := t.current()
	if tr == nil {
		return ctx, noopSpan
	}
	ctx, span := tr.Start(ctx, name)
	if len(attrs) > 0 && span.IsRecording() {
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// start is StartSpan with span options (kind, links) for the runtime itself.
func (t *Tracing) start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tr := t.current()
	if tr == nil {
		return ctx, noopSpan
	}
	return tr.Start(ctx, name, opts...)
}

// Traced runs fn inside a span (the @traced decorator): the span ends when fn
// returns, and an error marks it failed.
func (t *Tracing) Traced(ctx context.Context, name string, fn func(context.Context) error, attrs ...attribute.KeyValue) error {
	ctx, span := t.StartSpan(ctx, name, attrs...)
	err := fn(ctx)
	endSpan(span, err)
	return err
}

// Traced is the generic form of Tracing.Traced for functions returning a value.
func Traced[T any](ctx context.Context, t *Tracing, name string, fn func(context.Context) (T, error), attrs ...attribute.KeyValue) (T, error) {
	ctx, span := t.StartSpan(ctx, name, attrs...)
	v, err := fn(ctx)
	endSpan(span, err)
	return v, err
}

// endSpan records err (if any) and ends the span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		recordError(span, err)
	}
	span.End()
}

func recordError(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(attribute.String(semconv.AttrErrorType, errorType(err)))
}

// errorType names an error's kind for error.type: the runtime's sentinel
// kinds by name, anything else by Go type.
func errorType(err error) string {
	var ce *ConcurrencyError
	switch {
	case errors.As(err, &ce):
		return "ConcurrencyError"
	case errors.Is(err, ErrAggregateNotFound):
		return "AggregateNotFound"
	case errors.Is(err, ErrNoHandler):
		return "NoHandler"
	case errors.Is(err, ErrHandlerPanic):
		return "Panic"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	}
	return fmt.Sprintf("%T", err)
}
