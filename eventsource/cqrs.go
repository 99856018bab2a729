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

// Command is a request to change state. Its type names the span command.<Type>.
type Command interface{ CommandType() string }

// AggregateCommand is a Command aimed at one aggregate (sets cqrs.aggregate.id).
type AggregateCommand interface {
	Command
	AggregateID() string
}

// CommandHandler executes a command and returns the events it stored.
type CommandHandler func(ctx context.Context, cmd Command) ([]Event, error)

// CommandBus dispatches commands to handlers inside seed-000 command.<Type>
// spans (tracer cqrs.write).
type CommandBus struct {
	t        Tracing
	metrics  *seedMetrics
	mu       sync.RWMutex
	handlers map[string]CommandHandler
}

// NewCommandBus returns an empty command bus.
func NewCommandBus(opts ...Option) *CommandBus {
	o := newOptions(true, opts)
	b := &CommandBus{handlers: make(map[string]CommandHandler), metrics: newWriteMetrics(o.mp)}
	b.t.init(semconv.ScopeWrite, o)
	return b
}

// Register sets the handler for a command type, replacing any previous one.
func (b *CommandBus) Register(commandType string, h CommandHandler) {
	b.mu.Lock()
	b.handlers[commandType] = h
	b.mu.Unlock()
}

// Dispatch runs the command's handler and returns the events it produced.
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
	b.mu.RLock()
	h := b.handlers[typ]
	b.mu.RUnlock()
	if h == nil {
		err := fmt.Errorf("%w for command %s", ErrNoHandler, typ)
		recordError(span, err)
		b.record(ctx, typ, start, 0, err)
		return nil, err
	}
	events, err := h(ctx, cmd)
	if err != nil {
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
type Query interface{ QueryType() string }

// QueryHandler answers a query. A slice result sets cqrs.query.result_count.
type QueryHandler func(ctx context.Context, q Query) (any, error)

// QueryBus executes queries inside seed-000 query.<Type> spans (tracer cqrs.read).
type QueryBus struct {
	t        Tracing
	metrics  *seedMetrics
	mu       sync.RWMutex
	handlers map[string]QueryHandler
}

// NewQueryBus returns an empty query bus.
func NewQueryBus(opts ...Option) *QueryBus {
	o := newOptions(true, opts)
	b := &QueryBus{handlers: make(map[string]QueryHandler), metrics: newReadMetrics(o.mp)}
	b.t.init(semconv.ScopeRead, o)
	return b
}

// Register sets the handler for a query type.
func (b *QueryBus) Register(queryType string, h QueryHandler) {
	b.mu.Lock()
	b.handlers[queryType] = h
	b.mu.Unlock()
}

// Execute runs the query's handler.
func (b *QueryBus) Execute(ctx context.Context, q Query) (any, error) {
	typ := q.QueryType()
	ctx, span := b.t.start(ctx, semconv.SpanPrefixQuery+typ, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrSide, semconv.SideRead),
			attribute.String(semconv.AttrQueryType, typ))
	}
	start := time.Now()
	b.mu.RLock()
	h := b.handlers[typ]
	b.mu.RUnlock()
	if h == nil {
		err := fmt.Errorf("%w for query %s", ErrNoHandler, typ)
		recordError(span, err)
		b.record(ctx, typ, start, -1, err)
		return nil, err
	}
	res, err := h(ctx, q)
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
