package rabbitbus

import (
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// Message header names. The event headers are eventsource-py 0.14's
// (adapters/rabbitmq/serialization.py serialize_event), the dead-letter ones
// its consumer.py _send_to_dlq and the replay one its dlq.py.
const (
	HeaderEventType        = "event_type"
	HeaderAggregateType    = "aggregate_type"
	HeaderAggregateID      = "aggregate_id"
	HeaderAggregateVersion = "aggregate_version"
	HeaderRetryCount       = "x-retry-count"
	HeaderTenantID         = buswire.KeyTenantID
	HeaderCorrelationID    = buswire.KeyCorrelationID
	HeaderCausationID      = buswire.KeyCausationID
	// HeaderPosition carries eventsource.Event.Position (the store's global
	// position); eventsource-py has no such field and ignores the header.
	HeaderPosition = "position"
	// HeaderPayload is "data" when the payload is not a JSON object and was
	// written under the "data" key (as kafkabus does).
	HeaderPayload = "eventsource_payload"

	HeaderDLQReason          = "x-dlq-reason"
	HeaderDLQErrorType       = "x-dlq-error-type"
	HeaderDLQRetryCount      = "x-dlq-retry-count"
	HeaderDLQTimestamp       = "x-dlq-timestamp"
	HeaderOriginalRoutingKey = "x-original-routing-key"
	HeaderReplayedFromDLQ    = "x-replayed-from-dlq"
	// HeaderDeath is the broker's own dead-lettering record.
	HeaderDeath = "x-death"
)

// ContentType is every message's content type; the body is eventsource-py's DomainEvent JSON.
const ContentType = "application/json"

// RoutingKey is the routing key an event is published with,
// "<aggregate_type>.<event_type>" (eventsource-py's get_routing_key).
func RoutingKey(e eventsource.Event) string { return e.AggregateType + "." + e.Type }

// NewMessage is the AMQP message for e: its DomainEvent JSON, eventsource-py's
// headers and properties (message_id = event id, timestamp = when it
// occurred, persistent unless transient).
func NewMessage(e eventsource.Event, transient bool) (amqp.Publishing, error) {
	body, nested, err := buswire.Encode(e)
	if err != nil {
		return amqp.Publishing{}, err
	}
	h := amqp.Table{
		HeaderEventType:        e.Type,
		HeaderAggregateType:    e.AggregateType,
		HeaderAggregateID:      e.AggregateID,
		HeaderAggregateVersion: e.Version,
		HeaderRetryCount:       int32(0),
		HeaderCorrelationID:    buswire.CorrelationID(e),
	}
	for _, k := range []string{HeaderTenantID, HeaderCausationID} {
		if v := e.Metadata[k]; v != "" {
			h[k] = v
		}
	}
	if e.Position > 0 {
		h[HeaderPosition] = e.Position
	}
	if nested {
		h[HeaderPayload] = "data"
	}
	mode := amqp.Persistent
	if transient {
		mode = amqp.Transient
	}
	return amqp.Publishing{
		Headers:         h,
		ContentType:     ContentType,
		ContentEncoding: "utf-8",
		DeliveryMode:    mode,
		MessageId:       e.ID,
		Timestamp:       e.Timestamp,
		Body:            body,
	}, nil
}

// DecodeMessage reads the event of a message written by NewMessage or by
// eventsource-py. Like eventsource-py it needs the event_type header; the
// body must be a JSON object with string event_id, event_type and
// aggregate_id. Every error wraps ErrDecode.
func DecodeMessage(headers amqp.Table, body []byte) (eventsource.Event, error) {
	if headerString(headers, HeaderEventType) == "" {
		return eventsource.Event{}, fmt.Errorf("%w: missing %s header", ErrDecode, HeaderEventType)
	}
	e, err := buswire.Decode(body, headerString(headers, HeaderPayload) == "data")
	if err != nil {
		return eventsource.Event{}, err
	}
	if n, ok := headerInt(headers, HeaderPosition); ok && n > 0 {
		e.Position = n
	}
	return e, nil
}

// ErrDecode is wrapped by every DecodeMessage error: the message goes to the
// dead-letter queue with error type DeserializationError.
var ErrDecode = buswire.ErrDecode

// headerString is a header's text ("" when absent); numbers are formatted.
func headerString(h amqp.Table, key string) string {
	switch v := h[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	default:
		if n, ok := headerInt(h, key); ok {
			return strconv.FormatInt(n, 10)
		}
		return fmt.Sprint(v)
	}
}

// headerInt reads an integer header in any of the widths AMQP clients write
// (aio-pika writes Python ints as signed 64-bit, this bus x-retry-count as 32-bit), or as text.
func headerInt(h amqp.Table, key string) (int64, bool) {
	switch v := h[key].(type) {
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// retryCount is the x-retry-count header (0 when absent, unreadable or negative).
func retryCount(h amqp.Table) int {
	n, ok := headerInt(h, HeaderRetryCount)
	if !ok || n < 0 {
		return 0
	}
	return int(n)
}

// copyHeaders copies a message's headers for a message derived from it.
func copyHeaders(h amqp.Table) amqp.Table {
	out := make(amqp.Table, len(h)+6)
	for k, v := range h {
		out[k] = v
	}
	return out
}

// isoNow is the time eventsource-py writes in its x-dlq-timestamp and x-replayed-from-dlq headers.
func isoNow() string { return time.Now().UTC().Format(buswire.ISOTime) }

// tableCarrier is a propagation.TextMapCarrier over message headers.
type tableCarrier amqp.Table

func (c tableCarrier) Get(key string) string { return headerString(amqp.Table(c), key) }
func (c tableCarrier) Set(key, value string) { c[key] = value }
func (c tableCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// traceCarrier exposes only the W3C headers eventsource-py extracts
// (traceparent, tracestate, baggage), so no other header is read as context.
type traceCarrier amqp.Table

var traceHeaders = []string{"traceparent", "tracestate", "baggage"}

func (c traceCarrier) Get(key string) string {
	for _, k := range traceHeaders {
		if k == key {
			return headerString(amqp.Table(c), key)
		}
	}
	return ""
}
func (traceCarrier) Set(string, string) {}
func (c traceCarrier) Keys() []string {
	var keys []string
	for _, k := range traceHeaders {
		if headerString(amqp.Table(c), k) != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
