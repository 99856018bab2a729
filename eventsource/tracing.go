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

// Tracing gives your own components the runtime's tracing behaviour: embed
// it in a service, call InitTracing once, then use StartSpan or Traced. A
// zero Tracing, or one initialised with tracing disabled, starts no spans and
// costs a branch.
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
// which is what makes "no provider" nearly free. It is told apart by what it
// does, not by its (private) type: its spans record nothing and carry no
// trace id. The probe is never ended, so a real provider installed before
// this package's init exports nothing of it.
var defaultGlobal = func() trace.TracerProvider {
	if tp := otel.GetTracerProvider(); startsNoSpans(tp) {
		return tp
	}
	return nil // a provider was installed already
}()

// startsNoSpans reports whether tp's spans record nothing and carry no trace
// id, as the placeholder's and a no-op provider's do.
func startsNoSpans(tp trace.TracerProvider) bool {
	_, probe := tp.Tracer(semconv.ScopeRuntime).Start(context.Background(), "eventsource.probe")
	return !probe.IsRecording() && !probe.SpanContext().IsValid()
}

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

// Traced runs fn inside a span: the span ends when fn returns, and an error
// marks it failed.
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
	span.SetAttributes(attribute.String(semconv.AttrErrorType, ErrorType(err)))
}

// ErrorTyper is implemented by an error that names its own kind for the
// error.type span attribute, e.g. "InsufficientFunds". Wrapping keeps the
// name: the outermost error in the chain that implements it wins.
type ErrorTyper interface {
	ErrorType() string
}

// ErrorType names an error's kind for the error.type attribute, by the
// OpenTelemetry rule (a low-cardinality, meaningful name, else "_OTHER"): an
// ErrorTyper's own name; the runtime's sentinel kinds by name; else the Go type
// of the error that fmt.Errorf("...%w") or errors.Join wrapped. An error that
// is only text (errors.New, fmt.Errorf without %w) has no meaningful type:
// "_OTHER", never "*errors.errorString". Buses and stores of this module use it
// for their spans and metrics too.
func ErrorType(err error) string {
	var named ErrorTyper
	if errors.As(err, &named) {
		if t := named.ErrorType(); t != "" {
			return t
		}
	}
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
	inner := unwrapStdlib(err)
	if inner == nil || isStdlibAnonymous(inner) {
		return ErrorTypeOther
	}
	return fmt.Sprintf("%T", inner)
}

// ErrorTypeOther is error.type for an error without a meaningful type name.
const ErrorTypeOther = "_OTHER"

// isStdlibAnonymous: the standard library's unexported error and wrapper
// types, whose names say nothing about the error.
func isStdlibAnonymous(err error) bool {
	switch fmt.Sprintf("%T", err) {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return true
	}
	return false
}

// unwrapStdlib looks through the standard library's anonymous wrappers
// (*fmt.wrapError, *fmt.wrapErrors, *errors.joinError) to the error they
// carry; the first one when they carry several.
func unwrapStdlib(err error) error {
	for {
		switch fmt.Sprintf("%T", err) {
		case "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		default:
			return err
		}
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// spanEnder sets attributes only on a recording span and ends it with an
// error status when err is not nil.
type spanEnder struct{ span trace.Span }

func (s spanEnder) set(attrs ...attribute.KeyValue) {
	if s.span.IsRecording() {
		s.span.SetAttributes(attrs...)
	}
}

func (s spanEnder) end(err error) { endSpan(s.span, err) }

// storeSpans traces the calls of a store wrapper (TraceDeadLetters,
// TraceSnapshots) in the runtime's scope: each span carries its call's
// attributes, then the wrapper's fixed ones, and ends with the call's error
// (spanEnder.end). The wrappers only name their spans and attributes.
type storeSpans struct {
	t     Tracing
	fixed []attribute.KeyValue
}

func (s *storeSpans) init(opts []Option, fixed ...attribute.KeyValue) {
	s.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	s.fixed = fixed
}

// start starts a span; end it with end(err), add result attributes with set.
func (s *storeSpans) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, spanEnder) {
	ctx, span := s.t.StartSpan(ctx, name, attrs...)
	if len(s.fixed) > 0 && span.IsRecording() {
		span.SetAttributes(s.fixed...)
	}
	return ctx, spanEnder{span}
}
