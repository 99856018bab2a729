package rabbitbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// errStopped: Consume was stopped while a message waited to be retried; it is
// not acknowledged, and the broker delivers it again.
var errStopped = errors.New("rabbitbus: stopped")

// errTopology wraps a declaration the broker refused (a queue or exchange that
// exists with other arguments, a missing permission): Consume returns it
// rather than reconnecting forever.
var errTopology = errors.New("rabbitbus: topology")

// Consume declares the consumer group's topology (as Declare), then delivers
// every message of its queue to the subscribed handlers until ctx ends or
// Close is called. A lost connection is re-established after ReconnectDelay,
// for as long as Consume runs; it returns nil when stopped, or the error
// that stopped it (the broker refused the topology).
//
// Per message: a CONSUMER span "eventsource.event_bus.consume" whose parent
// is the context in the message's traceparent/tracestate/baggage headers (a
// remote parent), and under it an INTERNAL span "eventsource.event_bus.handle"
// per handler call (eventsource-py starts those as roots; here one trace runs
// from the publish to the handlers' own spans). A handler that fails is
// called again (only the failed handlers, each attempt a new handle span)
// after a backoff, up to MaxRetries times; then the message goes to the
// dead-letter exchange with eventsource-py's x-dlq-* headers. A message that
// cannot be decoded goes there at once. A message is acknowledged only once
// it is handled or dead-lettered: delivery is at least once. A message in
// progress when Consume is stopped is finished (its handlers' context is not
// canceled) and acknowledged, unless it was waiting for a retry.
func (b *Bus) Consume(ctx context.Context) error {
	if b.cfg.ConsumerGroup == "" {
		return fmt.Errorf("%w: ConsumerGroup is empty: Consume needs a consumer group", ErrInvalidConfig)
	}
	ctx, end, err := b.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer end()

	for {
		err := b.consumeConnection(ctx)
		if ctx.Err() != nil || errors.Is(err, errStopped) {
			return nil
		}
		if errors.Is(err, errTopology) {
			return err
		}
		if !buswire.Sleep(ctx, b.cfg.ReconnectDelay) {
			return nil
		}
	}
}

// consumeConnection consumes on one connection until it is lost or ctx ends.
func (b *Bus) consumeConnection(ctx context.Context) error {
	conn, err := b.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := b.declareExchange(ch); err != nil {
		return fmt.Errorf("%w: %w", errTopology, err)
	}
	if err := b.declareQueue(ch); err != nil {
		return fmt.Errorf("%w: %w", errTopology, err)
	}
	if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return err
	}
	// Dead letters go out on their own confirm-mode channel.
	dlq, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := dlq.Confirm(false); err != nil {
		return err
	}
	tag := fmt.Sprintf("%s-%p", b.cfg.ConnectionName, b)
	deliveries, err := ch.Consume(b.cfg.QueueName(), tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("rabbitbus: consuming %q: %w", b.cfg.QueueName(), err)
	}
	for {
		select {
		case <-ctx.Done():
			// Unacknowledged deliveries go back to the queue when the channel closes.
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("rabbitbus: consumer of %q lost its channel", b.cfg.QueueName())
			}
			if err := b.process(ctx, dlq, d); err != nil {
				return err
			}
		}
	}
}

// process handles one delivery and acknowledges it; an error means the
// channel is unusable (the delivery goes back to the queue) or Consume stopped.
func (b *Bus) process(ctx context.Context, dlq *amqp.Channel, d amqp.Delivery) error {
	eventType := headerString(d.Headers, HeaderEventType)
	// Handlers finish what they started when Consume is stopped.
	sctx := context.WithoutCancel(ctx)
	span := trace.SpanFromContext(context.Background())
	if tr := b.o.Tracer(TracerName); tr != nil {
		parent := b.o.Propagator.Extract(context.Background(), traceCarrier(d.Headers))
		spanType := eventType
		if spanType == "" {
			spanType = "unknown" // eventsource-py's default
		}
		sctx, span = tr.Start(parent, semconv.SpanBusConsume,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String(semconv.AttrMessagingSystem, MessagingSystemRabbitMQ),
				attribute.String(semconv.AttrMessagingDestination, b.cfg.QueueName()),
				attribute.String(AttrDestinationKind, DestinationKindQueue),
				attribute.String(semconv.AttrMessagingOperation, OperationReceive),
				attribute.String(AttrMessageID, d.MessageId),
				attribute.String(semconv.AttrESEventType, spanType),
				attribute.String(AttrRoutingKey, d.RoutingKey)))
		sctx = context.WithoutCancel(sctx)
	}
	defer span.End()
	retries := retryCount(d.Headers)

	e, err := DecodeMessage(d.Headers, d.Body)
	if err != nil {
		buswire.FailSpan(span, err)
		return b.deadLetter(ctx, dlq, d, err, retries)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String(AttrEventID, e.ID),
			attribute.String(semconv.AttrESEventID, e.ID),
			attribute.String(semconv.AttrESAggregateID, e.AggregateID),
			attribute.String(semconv.AttrESAggregateType, e.AggregateType))
	}

	pending := b.snapshotHandlers()
	if span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrESHandlerCount, len(pending)))
	}
	for {
		failures := b.dispatch(sctx, e, pending)
		if len(failures) == 0 {
			break
		}
		pending = pending[:0:0]
		for _, f := range failures {
			pending = append(pending, f.Handler)
		}
		if retries >= b.cfg.MaxRetries {
			err := buswire.HandlerError(failures)
			buswire.FailSpan(span, err)
			if span.IsRecording() {
				span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, retries))
			}
			return b.deadLetter(ctx, dlq, d, err, retries)
		}
		if !buswire.Sleep(ctx, b.cfg.retry().Delay(retries)) {
			buswire.FailSpan(span, errStopped)
			return errStopped
		}
		retries++
	}
	if span.IsRecording() {
		if retries > retryCount(d.Headers) {
			span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, retries))
		}
		span.SetStatus(codes.Ok, "")
	}
	return d.Ack(false)
}

// dispatch calls each handler once and returns those that failed.
func (b *Bus) dispatch(ctx context.Context, e eventsource.Event, handlers []eventsource.EventHandler) []buswire.Failure {
	var failed []buswire.Failure
	tr := b.o.Tracer(TracerName)
	for _, h := range handlers {
		name := h.HandlerName()
		hctx, span := ctx, trace.SpanFromContext(context.Background())
		if tr != nil {
			hctx, span = tr.Start(ctx, semconv.SpanBusHandle, trace.WithAttributes(
				attribute.String(semconv.AttrESHandlerName, name),
				attribute.String(semconv.AttrESEventType, e.Type),
				attribute.String(semconv.AttrESEventID, e.ID)))
		}
		start := time.Now()
		err := buswire.SafeHandle(hctx, h, e)
		if span.IsRecording() {
			span.SetAttributes(attribute.Float64(AttrHandlerDuration, float64(time.Since(start))/float64(time.Millisecond)),
				attribute.Bool(semconv.AttrESHandlerSuccess, err == nil))
		}
		if err != nil {
			buswire.FailSpan(span, err)
			failed = append(failed, buswire.Failure{Handler: h, Err: err})
		} else {
			span.SetStatus(codes.Ok, "")
		}
		span.End()
	}
	return failed
}

// deadLetter publishes d to the dead-letter exchange with eventsource-py's
// x-dlq-* headers, waits for the broker's confirmation, then acknowledges d.
// Should that publish fail, d is rejected instead: the queue's own
// dead-letter exchange takes it (with the broker's x-death header), so it
// is never lost. With DisableDLQ, d is acknowledged and dropped.
func (b *Bus) deadLetter(ctx context.Context, dlq *amqp.Channel, d amqp.Delivery, cause error, retries int) error {
	if b.cfg.DisableDLQ {
		return d.Ack(false)
	}
	h := copyHeaders(d.Headers)
	h[HeaderDLQReason] = buswire.Truncate(cause.Error())
	h[HeaderDLQErrorType] = buswire.ErrorType(cause)
	h[HeaderDLQRetryCount] = int32(retries)
	h[HeaderDLQTimestamp] = isoNow()
	h[HeaderOriginalRoutingKey] = d.RoutingKey
	msg := amqp.Publishing{Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: d.DeliveryMode, MessageId: d.MessageId, Timestamp: d.Timestamp, Body: d.Body}
	// The dead letter is written even when Consume is being stopped.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.PublishTimeout)
	defer cancel()
	dc, err := dlq.PublishWithDeferredConfirmWithContext(pctx, b.cfg.DLQExchange(), b.cfg.QueueName(), false, false, msg)
	if err == nil {
		var ok bool
		if ok, err = dc.WaitContext(pctx); err == nil && !ok {
			err = errors.New("not confirmed")
		}
	}
	if err != nil {
		return d.Reject(false)
	}
	return d.Ack(false)
}
