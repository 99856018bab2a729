package eventsource

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// ErrBusClosed is returned by Publish after Close.
var ErrBusClosed = errors.New("eventsource: event bus closed")

// EventHandler receives events from the EventBus.
type EventHandler interface {
	HandlerName() string
	HandleEvent(ctx context.Context, e Event) error
}

type funcHandler struct {
	name string
	fn   func(context.Context, Event) error
}

func (h funcHandler) HandlerName() string                            { return h.name }
func (h funcHandler) HandleEvent(ctx context.Context, e Event) error { return h.fn(ctx, e) }

// HandlerFunc adapts a function to EventHandler.
func HandlerFunc(name string, fn func(context.Context, Event) error) EventHandler {
	return funcHandler{name: name, fn: fn}
}

// EventBusConfig sizes the bus.
type EventBusConfig struct {
	// Workers is the number of dispatch goroutines (default 1). Events of one
	// aggregate always go to the same worker, so they stay in order; events
	// of different aggregates may be handled out of global order when
	// Workers > 1.
	Workers int
	// QueueSize is each worker's queue capacity (default 1024). A full queue
	// blocks Publish: back-pressure, never a silent drop.
	QueueSize int
}

type envelope struct {
	event   Event
	carrier propagation.MapCarrier // W3C context of the publish span
}

// EventBus is an in-process asynchronous event bus: Publish enqueues, worker
// goroutines dispatch to every subscribed handler. Spans:
// eventsource.event_bus.publish (producer) → dispatch (consumer, child of
// publish via W3C context carried with the message) → handle (one per handler).
type EventBus struct {
	t      Tracing
	queues []chan envelope
	wg     sync.WaitGroup

	hmu      sync.RWMutex
	handlers []EventHandler

	mu       sync.Mutex
	cond     *sync.Cond
	inflight int
	closed   bool
}

// NewEventBus starts the bus's workers. Close stops them.
func NewEventBus(cfg EventBusConfig, opts ...Option) *EventBus {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	b := &EventBus{queues: make([]chan envelope, cfg.Workers)}
	b.cond = sync.NewCond(&b.mu)
	b.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	for i := range b.queues {
		b.queues[i] = make(chan envelope, cfg.QueueSize)
		b.wg.Add(1)
		go b.worker(b.queues[i])
	}
	return b
}

// Subscribe adds a handler for every event.
func (b *EventBus) Subscribe(h EventHandler) {
	b.hmu.Lock()
	b.handlers = append(b.handlers, h)
	b.hmu.Unlock()
}

// Publish enqueues events for asynchronous dispatch. It blocks while a
// worker's queue is full, until ctx is done.
func (b *EventBus) Publish(ctx context.Context, events []Event) error {
	ctx, span := b.t.start(ctx, semconv.SpanBusPublish, trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrMessagingSystem, semconv.MessagingSystemInMemory),
			attribute.Int(semconv.AttrESEventCount, len(events)))
		if len(events) > 0 {
			span.SetAttributes(
				attribute.String(semconv.AttrESEventType, events[0].Type),
				attribute.String(semconv.AttrESAggregateID, events[0].AggregateID),
				attribute.Int64(semconv.AttrESPosition, events[len(events)-1].Position))
		}
	}
	var carrier propagation.MapCarrier
	if trace.SpanContextFromContext(ctx).IsValid() {
		carrier = propagation.MapCarrier{}
		propagator.Inject(ctx, carrier)
	}
	var err error
	for _, e := range events {
		if err = b.enqueue(ctx, envelope{event: e, carrier: carrier}); err != nil {
			break
		}
	}
	endSpan(span, err)
	return err
}

func (b *EventBus) enqueue(ctx context.Context, env envelope) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBusClosed
	}
	b.inflight++
	b.mu.Unlock()
	q := b.queues[partition(env.event.AggregateID, len(b.queues))]
	select {
	case q <- env:
		return nil
	case <-ctx.Done():
		b.done()
		return ctx.Err()
	}
}

func partition(key string, n int) int {
	if n == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func (b *EventBus) done() {
	b.mu.Lock()
	b.inflight--
	if b.inflight == 0 {
		b.cond.Broadcast()
	}
	b.mu.Unlock()
}

func (b *EventBus) worker(q <-chan envelope) {
	defer b.wg.Done()
	for env := range q {
		b.dispatch(env)
		b.done()
	}
}

func (b *EventBus) dispatch(env envelope) {
	ctx := context.Background()
	if env.carrier != nil {
		ctx = propagator.Extract(ctx, env.carrier)
	}
	b.hmu.RLock()
	handlers := b.handlers
	b.hmu.RUnlock()
	e := env.event
	ctx, span := b.t.start(ctx, semconv.SpanBusDispatch, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrMessagingSystem, semconv.MessagingSystemInMemory),
			attribute.String(semconv.AttrESEventType, e.Type),
			attribute.String(semconv.AttrESEventID, e.ID),
			attribute.String(semconv.AttrESAggregateID, e.AggregateID),
			attribute.Int64(semconv.AttrESPosition, e.Position),
			attribute.Int(semconv.AttrESHandlerCount, len(handlers)))
	}
	for _, h := range handlers {
		hctx, hspan := b.t.start(ctx, semconv.SpanBusHandle)
		err := safeHandle(hctx, h, e)
		if hspan.IsRecording() {
			hspan.SetAttributes(
				attribute.String(semconv.AttrESHandlerName, h.HandlerName()),
				attribute.String(semconv.AttrESEventType, e.Type),
				attribute.Bool(semconv.AttrESHandlerSuccess, err == nil))
		}
		endSpan(hspan, err)
	}
	span.End()
}

// Drain blocks until every event published so far has been dispatched, or
// ctx is done.
func (b *EventBus) Drain(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.inflight > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.cond.Wait()
	}
	return nil
}

// QueueDepth is the number of events published but not yet dispatched.
func (b *EventBus) QueueDepth() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight
}

// Close stops accepting events, lets the workers finish what is queued and
// waits for them.
func (b *EventBus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	// Wait for in-flight enqueues so closing the channels cannot race a send.
	_ = b.Drain(context.Background())
	for _, q := range b.queues {
		close(q)
	}
	b.wg.Wait()
}

// ErrHandlerPanic wraps a panic raised by an event handler or projection.
var ErrHandlerPanic = errors.New("eventsource: handler panicked")

// safeHandle turns a handler panic into an error, so one bad handler cannot
// kill a bus worker (and with it every projection behind that worker).
func safeHandle(ctx context.Context, h EventHandler, e Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrHandlerPanic, h.HandlerName(), r)
		}
	}()
	return h.HandleEvent(ctx, e)
}
