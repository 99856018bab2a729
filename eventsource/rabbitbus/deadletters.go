package rabbitbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// DeadLetter is a message in the consumer group's dead-letter queue, read by
// DeadLetters (eventsource-py's RabbitMQDLQ get_messages).
type DeadLetter struct {
	// MessageID is the message's id: the event id, as published.
	MessageID string
	// Event is the decoded event; zero when DecodeError is set.
	Event       eventsource.Event
	DecodeError string
	// Reason is x-dlq-reason (the handler's error message) and ErrorType
	// x-dlq-error-type; RetryCount the retries made before giving up.
	Reason     string
	ErrorType  string
	RetryCount int
	// DeadLetteredAt is x-dlq-timestamp (zero when unreadable).
	DeadLetteredAt time.Time
	// OriginalRoutingKey is the routing key the event was published with.
	OriginalRoutingKey string
	// RejectedByBroker is true for a message the broker dead-lettered itself
	// (x-death: the bus could not publish it to the dead-letter exchange).
	RejectedByBroker bool
}

// ErrDeadLetterNotFound is returned by ReplayDeadLetter for a message id that
// is not in the dead-letter queue.
var ErrDeadLetterNotFound = errors.New("rabbitbus: dead letter not found")

// adminChannel is a channel on a connection of its own: the messages it takes
// and does not acknowledge go back to their queue when it closes.
func (b *Bus) adminChannel() (*amqp.Channel, func(), error) {
	if b.cfg.ConsumerGroup == "" || b.cfg.DisableDLQ {
		return nil, nil, fmt.Errorf("%w: dead letters need a ConsumerGroup and the DLQ", ErrInvalidConfig)
	}
	if b.life.Closed() {
		return nil, nil, ErrClosed
	}
	conn, err := b.dial()
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return ch, func() { _ = conn.Close() }, nil
}

// DeadLetters lists up to limit messages of the dead-letter queue (all when
// limit ≤ 0), oldest first, and leaves them there.
func (b *Bus) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	ch, done, err := b.adminChannel()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []DeadLetter
	for limit <= 0 || len(out) < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, ok, err := ch.Get(b.cfg.DLQQueue(), false)
		if err != nil {
			return nil, fmt.Errorf("rabbitbus: reading %q: %w", b.cfg.DLQQueue(), err)
		}
		if !ok {
			break // taken messages stay unacknowledged, so each comes once
		}
		out = append(out, readDeadLetter(d))
	}
	return out, nil
}

func readDeadLetter(d amqp.Delivery) DeadLetter {
	dl := DeadLetter{
		MessageID:          d.MessageId,
		Reason:             headerString(d.Headers, HeaderDLQReason),
		ErrorType:          headerString(d.Headers, HeaderDLQErrorType),
		OriginalRoutingKey: headerString(d.Headers, HeaderOriginalRoutingKey),
	}
	if dl.OriginalRoutingKey == "" {
		dl.OriginalRoutingKey = d.RoutingKey
	}
	if n, ok := headerInt(d.Headers, HeaderDLQRetryCount); ok {
		dl.RetryCount = int(n)
	}
	if t, err := buswire.ParseTime(headerString(d.Headers, HeaderDLQTimestamp)); err == nil {
		dl.DeadLetteredAt = t
	}
	_, dl.RejectedByBroker = d.Headers[HeaderDeath]
	if e, err := DecodeMessage(d.Headers, d.Body); err != nil {
		dl.DecodeError = err.Error()
	} else {
		dl.Event = e
	}
	return dl
}

// ReplayDeadLetter takes the message with that id out of the dead-letter
// queue and puts it back on the consumer group's queue with a fresh retry
// count (x-retry-count 0, an x-replayed-from-dlq timestamp, the x-dlq-* and
// x-death headers removed), once the broker confirms it. It goes to this
// group's queue only, through the default exchange: eventsource-py publishes
// a replay to the main exchange, which delivers it again to every group.
func (b *Bus) ReplayDeadLetter(ctx context.Context, messageID string) error {
	ch, done, err := b.adminChannel()
	if err != nil {
		return err
	}
	defer done()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	// A replay to a queue that is not there would be confirmed and lost.
	if _, err := ch.QueueDeclarePassive(b.cfg.QueueName(), false, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitbus: replaying to %q: %w", b.cfg.QueueName(), err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, ok, err := ch.Get(b.cfg.DLQQueue(), false)
		if err != nil {
			return fmt.Errorf("rabbitbus: reading %q: %w", b.cfg.DLQQueue(), err)
		}
		if !ok {
			return fmt.Errorf("%w: %q in %q", ErrDeadLetterNotFound, messageID, b.cfg.DLQQueue())
		}
		if d.MessageId != messageID {
			continue // back to the queue when the channel closes
		}
		h := copyHeaders(d.Headers)
		for k := range h {
			if strings.HasPrefix(k, "x-dlq-") || k == HeaderDeath || k == HeaderOriginalRoutingKey {
				delete(h, k)
			}
		}
		h[HeaderRetryCount] = int32(0)
		h[HeaderReplayedFromDLQ] = isoNow()
		msg := amqp.Publishing{Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
			DeliveryMode: d.DeliveryMode, MessageId: d.MessageId, Timestamp: d.Timestamp, Body: d.Body}
		pctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
		defer cancel()
		dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, "", b.cfg.QueueName(), false, false, msg)
		if err != nil {
			return fmt.Errorf("rabbitbus: replaying %q: %w", messageID, err)
		}
		if ok, err := dc.WaitContext(pctx); err != nil || !ok {
			return fmt.Errorf("rabbitbus: replaying %q: not confirmed: %w", messageID, cmp.Or(err, errors.New("nack")))
		}
		return d.Ack(false)
	}
}
