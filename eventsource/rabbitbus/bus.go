package rabbitbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// TracerName is the instrumentation scope, as eventsource-py 0.14 names it
// (the bus module's __name__).
const TracerName = "eventsource.adapters.rabbitmq.bus"

// Span attribute keys eventsource-py's RabbitMQ bus uses outside its ATTR_*
// table (the ATTR_* ones come from eventsource/semconv). Two are unprefixed
// in eventsource-py, and kept so: event.id on consume, aggregate.type on publish.
const (
	AttrDestinationKind = "messaging.destination_kind"
	AttrRoutingKey      = "messaging.rabbitmq.routing_key"
	AttrMessageID       = "messaging.message_id"
	AttrEventID         = "event.id"
	AttrAggregateType   = "aggregate.type"
	AttrUnknownType     = "event.unknown_type"
	AttrHandlerDuration = "handler.duration_ms"
	AttrErrorType       = "error.type"
)

// Values.
const (
	MessagingSystemRabbitMQ = "rabbitmq"
	DestinationKindExchange = "exchange"
	DestinationKindQueue    = "queue"
	OperationPublish        = "publish"
	OperationReceive        = "receive"
)

// ErrClosed is returned by Publish and Consume after Close.
var ErrClosed = errors.New("rabbitbus: bus closed")

// ErrConsuming is returned by Consume while another Consume runs on the bus.
var ErrConsuming = errors.New("rabbitbus: already consuming")

// Bus publishes events to a RabbitMQ exchange and consumes them from a
// consumer group's queue, with eventsource-py 0.14's messages, spans and
// dead-lettering. It implements eventsource.EventPublisher, so a Repository
// (or an outbox relay) can publish through it, and eventsource.EventSubscriber.
type Bus struct {
	cfg Config
	o   buswire.Telemetry

	// pmu serialises publishes on the one confirm-mode channel, and guards the connection.
	pmu   sync.Mutex
	conn  *amqp.Connection
	pubCh *amqp.Channel

	hmu      sync.RWMutex
	handlers []eventsource.EventHandler

	life *buswire.Lifecycle // closed state and the running Consume
}

var (
	_ eventsource.EventPublisher  = (*Bus)(nil)
	_ eventsource.EventSubscriber = (*Bus)(nil)
)

// New validates cfg and fills in its defaults. It does not contact the
// broker: the first Publish, Declare or Consume does.
func New(cfg Config, opts ...Option) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg, o: buswire.NewTelemetry(opts), life: buswire.NewLifecycle(ErrClosed, ErrConsuming)}, nil
}

// Config returns the configuration with its defaults filled in.
func (b *Bus) Config() Config { return b.cfg }

// Subscribe adds a handler for every consumed event. Handlers added while
// consuming get the messages delivered after the call.
func (b *Bus) Subscribe(h eventsource.EventHandler) {
	b.hmu.Lock()
	b.handlers = append(b.handlers, h)
	b.hmu.Unlock()
}

func (b *Bus) snapshotHandlers() []eventsource.EventHandler {
	b.hmu.RLock()
	defer b.hmu.RUnlock()
	return b.handlers
}

func (b *Bus) dial() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(b.cfg.ConnectionName)
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Heartbeat:       b.cfg.Heartbeat,
		TLSClientConfig: b.cfg.TLS,
		Properties:      props,
		Dial:            amqp.DefaultDial(30 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: connecting to %s: %w", b.cfg.redactedURL(), err)
	}
	return conn, nil
}

// publishChannel returns the confirm-mode channel, opening the connection and
// the channel (and declaring the exchange) when there is none. Holds pmu.
func (b *Bus) publishChannel() (*amqp.Channel, error) {
	if b.pubCh != nil && !b.pubCh.IsClosed() {
		return b.pubCh, nil
	}
	if b.conn == nil || b.conn.IsClosed() {
		conn, err := b.dial()
		if err != nil {
			return nil, err
		}
		b.conn = conn
	}
	ch, err := b.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitbus: channel on %s: %w", b.cfg.redactedURL(), err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("rabbitbus: publisher confirms on %s: %w", b.cfg.redactedURL(), err)
	}
	if err := b.declareExchange(ch); err != nil {
		ch.Close()
		return nil, err
	}
	b.pubCh = ch
	return ch, nil
}

// dropPublisher closes the publish channel after a failure, so the next
// publish starts from a fresh one. Holds pmu.
func (b *Bus) dropPublisher() {
	if b.pubCh != nil {
		_ = b.pubCh.Close()
		b.pubCh = nil
	}
}

// Declare declares the exchange and, with a ConsumerGroup, the group's queue,
// its binding and its dead-letter exchange and queue. The broker drops a
// message that no queue is bound for, so declare a consumer group's queue
// (here or by starting its Consume) before events are published for it.
func (b *Bus) Declare(ctx context.Context) error {
	if b.life.Closed() {
		return ErrClosed
	}
	b.pmu.Lock()
	defer b.pmu.Unlock()
	ch, err := b.publishChannel()
	if err != nil {
		return err
	}
	if b.cfg.ConsumerGroup == "" {
		return nil
	}
	if err := b.declareQueue(ch); err != nil {
		b.dropPublisher()
		return err
	}
	return nil
}

func (b *Bus) declareExchange(ch *amqp.Channel) error {
	durable := !b.cfg.Transient
	if err := ch.ExchangeDeclare(b.cfg.Exchange, b.cfg.ExchangeType, durable, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: declaring exchange %q (%s): %w", b.cfg.Exchange, b.cfg.ExchangeType, err)
	}
	return nil
}

// declareQueue declares eventsource-py's topology for the consumer group:
// the dead-letter exchange and queue first, then the queue (dead-lettering
// to them) and its binding.
func (b *Bus) declareQueue(ch *amqp.Channel) error {
	durable := !b.cfg.Transient
	queue := b.cfg.QueueName()
	var args amqp.Table
	if !b.cfg.DisableDLQ {
		if err := ch.ExchangeDeclare(b.cfg.DLQExchange(), ExchangeDirect, durable, false, false, false, nil); err != nil {
			return fmt.Errorf("rabbitbus: declaring dead-letter exchange %q: %w", b.cfg.DLQExchange(), err)
		}
		dlqArgs := amqp.Table{}
		if b.cfg.DLQMessageTTL > 0 {
			dlqArgs["x-message-ttl"] = b.cfg.DLQMessageTTL.Milliseconds()
		}
		if b.cfg.DLQMaxLength > 0 {
			dlqArgs["x-max-length"] = int64(b.cfg.DLQMaxLength)
		}
		if _, err := ch.QueueDeclare(b.cfg.DLQQueue(), durable, false, false, false, dlqArgs); err != nil {
			return fmt.Errorf("rabbitbus: declaring dead-letter queue %q: %w", b.cfg.DLQQueue(), err)
		}
		if err := ch.QueueBind(b.cfg.DLQQueue(), queue, b.cfg.DLQExchange(), false, nil); err != nil {
			return fmt.Errorf("rabbitbus: binding %q to %q: %w", b.cfg.DLQQueue(), b.cfg.DLQExchange(), err)
		}
		args = amqp.Table{"x-dead-letter-exchange": b.cfg.DLQExchange(), "x-dead-letter-routing-key": queue}
	}
	if _, err := ch.QueueDeclare(queue, durable, false, false, false, args); err != nil {
		return fmt.Errorf("rabbitbus: declaring queue %q: %w", queue, err)
	}
	if err := ch.QueueBind(queue, b.cfg.BindingKey, b.cfg.Exchange, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: binding %q to %q with %q: %w", queue, b.cfg.Exchange, b.cfg.BindingKey, err)
	}
	return nil
}

// Publish sends one message per event to the exchange, routed by
// "<aggregate_type>.<event_type>", and waits until the broker confirms all of
// them, or PublishTimeout or ctx ends. Any event not confirmed fails the
// whole call with an error naming the exchange; the caller (a Repository's
// publish retry, an outbox relay) keeps the batch pending and publishes it
// again: messages confirmed before the failure are then delivered twice (at
// least once).
//
// Each event gets a PRODUCER span "eventsource.event_bus.publish", child of
// ctx's span, ended on the broker's confirmation. The traceparent/tracestate/
// baggage headers carry that span's own context, so the consumer's span is
// its child and one trace runs from the command to the handlers. (eventsource-py
// injects the caller's context instead, and publishes a batch of several
// events under one "eventsource.event_bus.publish_batch" span with no trace
// headers; a Python consumer reads either the same way.) With tracing off,
// the caller's context is injected.
func (b *Bus) Publish(ctx context.Context, events []eventsource.Event) error {
	if b.life.Closed() {
		return ErrClosed
	}
	if len(events) == 0 {
		return nil
	}
	spans := make([]trace.Span, 0, len(events))
	msgs := make([]amqp.Publishing, 0, len(events))
	for _, e := range events {
		msg, err := NewMessage(e, b.cfg.Transient)
		if err != nil {
			buswire.EndSpans(spans, err)
			return err
		}
		sctx, span := b.startPublishSpan(ctx, e)
		b.o.Propagator.Inject(sctx, tableCarrier(msg.Headers))
		spans, msgs = append(spans, span), append(msgs, msg)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if err := b.publish(ctx, events, msgs, spans); err != nil {
		return fmt.Errorf("rabbitbus: publish to exchange %q on %s: %w", b.cfg.Exchange, b.cfg.redactedURL(), err)
	}
	return nil
}

// publish sends msgs and ends their spans; a failure drops the channel.
func (b *Bus) publish(ctx context.Context, events []eventsource.Event, msgs []amqp.Publishing, spans []trace.Span) error {
	b.pmu.Lock()
	defer b.pmu.Unlock()
	if b.life.Closed() {
		buswire.EndSpans(spans, ErrClosed)
		return ErrClosed
	}
	ch, err := b.publishChannel()
	if err != nil {
		buswire.EndSpans(spans, err)
		return err
	}
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	for i, msg := range msgs {
		confirms[i], err = ch.PublishWithDeferredConfirmWithContext(ctx, b.cfg.Exchange, RoutingKey(events[i]), false, false, msg)
		if errors.Is(err, amqp.ErrClosed) && i == 0 {
			// The broker closed the connection since the last publish (a restart, a
			// cut): nothing of this batch went out yet, so open a fresh one once.
			b.dropPublisher()
			if ch, err = b.publishChannel(); err == nil {
				confirms[i], err = ch.PublishWithDeferredConfirmWithContext(ctx, b.cfg.Exchange, RoutingKey(events[i]), false, false, msg)
			}
		}
		if err != nil {
			b.dropPublisher()
			buswire.EndSpans(spans, err)
			return err
		}
	}
	var first error
	for i, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err == nil && !ok {
			err = fmt.Errorf("the broker did not confirm event %s (nack, or the channel closed)", events[i].ID)
		}
		if err != nil {
			first = cmp.Or(first, err)
			buswire.FailSpan(spans[i], err)
		} else if spans[i].IsRecording() {
			spans[i].SetStatus(codes.Ok, "")
		}
		spans[i].End()
	}
	if first != nil {
		b.dropPublisher()
	}
	return first
}

func (b *Bus) startPublishSpan(ctx context.Context, e eventsource.Event) (context.Context, trace.Span) {
	tr := b.o.Tracer(TracerName)
	if tr == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tr.Start(ctx, semconv.SpanBusPublish,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String(semconv.AttrMessagingSystem, MessagingSystemRabbitMQ),
			attribute.String(semconv.AttrMessagingDestination, b.cfg.Exchange),
			attribute.String(AttrDestinationKind, DestinationKindExchange),
			attribute.String(semconv.AttrMessagingOperation, OperationPublish),
			attribute.String(AttrRoutingKey, RoutingKey(e)),
			attribute.String(semconv.AttrESEventType, e.Type),
			attribute.String(semconv.AttrESEventID, e.ID),
			attribute.String(AttrAggregateType, e.AggregateType),
			attribute.String(semconv.AttrESAggregateType, e.AggregateType),
			attribute.String(semconv.AttrESAggregateID, e.AggregateID)))
}

// Close stops a running Consume (waiting for the message in progress to be
// handled and acknowledged; the broker gives the unacknowledged messages
// prefetched after it to another consumer), then closes the connection.
// Publish and Consume fail afterwards.
func (b *Bus) Close() error {
	if !b.life.Close() {
		return nil
	}
	b.pmu.Lock()
	defer b.pmu.Unlock()
	b.dropPublisher()
	if b.conn != nil {
		err := b.conn.Close()
		b.conn = nil
		if err != nil && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("rabbitbus: closing the connection: %w", err)
		}
	}
	return nil
}
