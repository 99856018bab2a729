package eventsource

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// ErrNoHandler is returned when no handler is registered for a command or query type.
var ErrNoHandler = errors.New("eventsource: no handler registered")

// ErrRegistration is returned (wrapped) by Register and RegisterQuery when a
// handler cannot be registered: the type name is empty or already taken, or
// the Go type cannot name itself.
var ErrRegistration = errors.New("eventsource: invalid registration")

// ErrTypeMismatch is returned (wrapped) when a command, query or query result
// is not of the Go type its handler was registered with.
var ErrTypeMismatch = errors.New("eventsource: type mismatch")

// Command is a request to change state. Its type names the span command.<Type>.
// CommandType must return a constant: Register calls it on C's zero value.
type Command interface{ CommandType() string }

// AggregateCommand is a Command aimed at one aggregate (sets cqrs.aggregate.id).
type AggregateCommand interface {
	Command
	AggregateID() string
}

// handlers maps a command or query type name to its handler: the one
// registry under both buses. Registration rejects duplicates and keeps the
// Go types the handler was registered for.
type handlers[F any] struct {
	mu  sync.RWMutex
	reg map[string]registration[F]
}

type registration[F any] struct {
	goType, result reflect.Type // result: a query's answer type
	h              F
}

// add registers reg under typ, the name of a command or query type.
func (hs *handlers[F]) add(kind, typ string, reg registration[F]) error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if prev, taken := hs.reg[typ]; taken {
		return fmt.Errorf("%w: %s type %q already has a handler (for %v)", ErrRegistration, kind, typ, prev.goType)
	}
	if hs.reg == nil {
		hs.reg = make(map[string]registration[F])
	}
	hs.reg[typ] = reg
	return nil
}

func (hs *handlers[F]) get(typ string) (registration[F], bool) {
	hs.mu.RLock()
	defer hs.mu.RUnlock()
	r, ok := hs.reg[typ]
	return r, ok
}

// commandFunc runs a command and returns the events it stored.
type commandFunc func(ctx context.Context, cmd Command) ([]Event, error)

// CommandBus dispatches commands to handlers inside command.<Type> spans
// (tracer cqrs.write).
type CommandBus struct {
	t        Tracing
	metrics  *cqrsMetrics
	handlers handlers[commandFunc]
}

// NewCommandBus returns an empty command bus.
func NewCommandBus(opts ...Option) *CommandBus {
	o := newOptions(true, opts)
	b := &CommandBus{metrics: newWriteMetrics(o.mp)}
	b.t.init(semconv.ScopeWrite, o)
	return b
}

// Register makes h the handler of the commands of Go type C, under the name
// C's CommandType() returns. It fails if the name is empty or already has a
// handler, or if C is an interface type. The events the command produced
// (cqrs.events.count, domain_event_produced) are those the handler saved
// through a Repository; Dispatch returns them.
func Register[C Command](b *CommandBus, h func(ctx context.Context, cmd C) error) error {
	goType := reflect.TypeFor[C]()
	typ, err := typeName(goType, func(c C) string { return c.CommandType() })
	if err != nil {
		return err
	}
	wrapped := func(ctx context.Context, cmd Command) ([]Event, error) {
		c, ok := cmd.(C)
		if !ok {
			return nil, fmt.Errorf("%w: command %s is registered for %v, got %T", ErrTypeMismatch, typ, goType, cmd)
		}
		ctx, produced := withProduced(ctx)
		err := h(ctx, c)
		return produced.events, err
	}
	return b.handlers.add("command", typ, registration[commandFunc]{goType: goType, h: wrapped})
}

// typeName reads a command or query type name from T's zero value.
func typeName[T any](goType reflect.Type, name func(T) string) (n string, err error) {
	if goType.Kind() == reflect.Interface {
		return "", fmt.Errorf("%w: %v is an interface type; register a concrete type", ErrRegistration, goType)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v's type name method panicked on its zero value (%v); return a constant", ErrRegistration, goType, r)
		}
	}()
	var zero T
	if n = name(zero); n == "" {
		return "", fmt.Errorf("%w: %v names an empty type", ErrRegistration, goType)
	}
	return n, nil
}

// produced collects the events saved during one typed command.
type produced struct {
	mu     sync.Mutex
	events []Event
}

type producedKey struct{}

func withProduced(ctx context.Context) (context.Context, *produced) {
	p := &produced{}
	return context.WithValue(ctx, producedKey{}, p), p
}

// recordProduced adds stored events to the command running in ctx, if any.
func recordProduced(ctx context.Context, events []Event) {
	if p, ok := ctx.Value(producedKey{}).(*produced); ok {
		p.mu.Lock()
		p.events = append(p.events, events...)
		p.mu.Unlock()
	}
}

// Dispatch runs the command's handler and returns the events it produced.
// The command span always carries cqrs.events.count: 0 when the command
// failed, since a failed command produced nothing, whatever it stored.
func (b *CommandBus) Dispatch(ctx context.Context, cmd Command) ([]Event, error) {
	typ := cmd.CommandType()
	var aggID string
	if ac, ok := cmd.(AggregateCommand); ok {
		aggID = ac.AggregateID()
	}
	ctx, span := b.t.start(ctx, semconv.SpanPrefixCommand+typ, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrSide, semconv.SideWrite),
			attribute.String(semconv.AttrCommandType, typ),
			attribute.String(semconv.AttrAggregateID, aggID))
	}
	start := time.Now()
	reg, ok := b.handlers.get(typ)
	var (
		events []Event
		err    error
	)
	if !ok {
		err = fmt.Errorf("%w for command %s", ErrNoHandler, typ)
	} else {
		events, err = reg.h(ctx, cmd)
	}
	if err != nil {
		if span.IsRecording() {
			span.SetAttributes(attribute.Int(semconv.AttrEventsCount, 0))
		}
		recordError(span, err)
		b.record(ctx, typ, start, 0, err)
		return events, err
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrEventsCount, len(events)))
		for _, e := range events {
			span.AddEvent(semconv.EventDomainEventProduced,
				trace.WithAttributes(attribute.String(semconv.EventAttrEventType, e.Type)))
		}
	}
	b.record(ctx, typ, start, len(events), nil)
	return events, nil
}

func (b *CommandBus) record(ctx context.Context, typ string, start time.Time, events int, err error) {
	if b.metrics == nil {
		return
	}
	status := semconv.StatusSuccess
	if err != nil {
		status = semconv.StatusError
	}
	attrs := metric.WithAttributes(
		attribute.String(semconv.MetricAttrCommandType, typ),
		attribute.String(semconv.MetricAttrCommandStatus, status))
	b.metrics.commandDuration.Record(ctx, msSince(start), attrs)
	b.metrics.commandTotal.Add(ctx, 1, attrs)
	if err == nil {
		b.metrics.eventsProduced.Add(ctx, int64(events),
			metric.WithAttributes(attribute.String(semconv.MetricAttrCommandType, typ)))
	}
}

// Query is a request to read state. Its type names the span query.<Type>.
// QueryType must return a constant: RegisterQuery calls it on Q's zero value.
type Query interface{ QueryType() string }

// queryFunc answers a query.
type queryFunc func(ctx context.Context, q Query) (any, error)

// QueryBus executes queries inside query.<Type> spans (tracer cqrs.read).
type QueryBus struct {
	t        Tracing
	metrics  *cqrsMetrics
	handlers handlers[queryFunc]
}

// NewQueryBus returns an empty query bus.
func NewQueryBus(opts ...Option) *QueryBus {
	o := newOptions(true, opts)
	b := &QueryBus{metrics: newReadMetrics(o.mp)}
	b.t.init(semconv.ScopeRead, o)
	return b
}

// RegisterQuery makes h the handler of the queries of Go type Q, under the
// name Q's QueryType() returns, answering with an R. It fails if the name is
// empty or already has a handler, or if Q is an interface type. A slice R
// sets cqrs.query.result_count.
func RegisterQuery[Q Query, R any](b *QueryBus, h func(ctx context.Context, q Q) (R, error)) error {
	goType := reflect.TypeFor[Q]()
	typ, err := typeName(goType, func(q Q) string { return q.QueryType() })
	if err != nil {
		return err
	}
	wrapped := func(ctx context.Context, q Query) (any, error) {
		qq, ok := q.(Q)
		if !ok {
			return nil, fmt.Errorf("%w: query %s is registered for %v, got %T", ErrTypeMismatch, typ, goType, q)
		}
		return h(ctx, qq)
	}
	return b.handlers.add("query", typ, registration[queryFunc]{goType: goType, result: reflect.TypeFor[R](), h: wrapped})
}

// Execute runs the query's handler and returns its result as an R. Asking
// for another type than the handler answers with is an ErrTypeMismatch,
// recorded on the query span like any failure.
func Execute[R any](ctx context.Context, b *QueryBus, q Query) (R, error) {
	var zero R
	res, err := b.execute(ctx, q, reflect.TypeFor[R]())
	if err != nil {
		return zero, err
	}
	if res == nil {
		return zero, nil
	}
	return res.(R), nil // execute checked the type
}

// execute runs q's handler inside its span; want is the result type the
// caller expects.
func (b *QueryBus) execute(ctx context.Context, q Query, want reflect.Type) (any, error) {
	typ := q.QueryType()
	ctx, span := b.t.start(ctx, semconv.SpanPrefixQuery+typ, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrSide, semconv.SideRead),
			attribute.String(semconv.AttrQueryType, typ))
	}
	start := time.Now()
	reg, ok := b.handlers.get(typ)
	var (
		res any
		err error
	)
	switch {
	case !ok:
		err = fmt.Errorf("%w for query %s", ErrNoHandler, typ)
	case !reg.result.AssignableTo(want):
		// Known before running the handler: the registration says what it returns.
		err = fmt.Errorf("%w: query %s answers with %v, not %v", ErrTypeMismatch, typ, reg.result, want)
	default:
		res, err = reg.h(ctx, q)
		if err == nil && res != nil && !reflect.TypeOf(res).AssignableTo(want) {
			err = fmt.Errorf("%w: query %s answered with %T, not %v", ErrTypeMismatch, typ, res, want)
			res = nil
		}
	}
	if err != nil {
		recordError(span, err)
		b.record(ctx, typ, start, -1, err)
		return res, err
	}
	n := resultCount(res)
	if n >= 0 && span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrQueryResultCount, n))
	}
	b.record(ctx, typ, start, n, nil)
	return res, nil
}

// resultCount is the length of a slice result, -1 for anything else.
func resultCount(res any) int {
	if res == nil {
		return -1
	}
	if v := reflect.ValueOf(res); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		return v.Len()
	}
	return -1
}

func (b *QueryBus) record(ctx context.Context, typ string, start time.Time, n int, err error) {
	if b.metrics == nil {
		return
	}
	status := semconv.StatusSuccess
	if err != nil {
		status = semconv.StatusError
	}
	b.metrics.queryDuration.Record(ctx, msSince(start), metric.WithAttributes(
		attribute.String(semconv.MetricAttrQueryType, typ),
		attribute.String(semconv.MetricAttrQueryStatus, status)))
	b.metrics.queryTotal.Add(ctx, 1, metric.WithAttributes(
		attribute.String(semconv.MetricAttrQueryType, typ),
		attribute.String(semconv.MetricAttrQueryStatus, status)))
	if n >= 0 {
		b.metrics.queryResultSize.Record(ctx, int64(n),
			metric.WithAttributes(attribute.String(semconv.MetricAttrQueryType, typ)))
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }
