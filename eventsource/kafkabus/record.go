package kafkabus

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
)

// Record header names. The event headers are eventsource-py 0.14's
// (adapters/kafka/publisher.py _create_headers), so a Python consumer routes
// and reads them; the DLQ headers are its consumer.py _create_dlq_headers.
const (
	HeaderEventID          = "event_id"
	HeaderEventType        = "event_type"
	HeaderAggregateID      = "aggregate_id"
	HeaderAggregateType    = "aggregate_type"
	HeaderAggregateVersion = "aggregate_version"
	HeaderOccurredAt       = "occurred_at"
	HeaderCorrelationID    = "correlation_id"
	HeaderTenantID         = "tenant_id"
	HeaderCausationID      = "causation_id"
	HeaderActorID          = "actor_id"
	HeaderRetryCount       = "retry_count"
	// HeaderPosition carries eventsource.Event.Position (the store's global
	// position); eventsource-py has no such field and ignores the header.
	HeaderPosition = "position"
	// HeaderPayload is "data" when the payload is not a JSON object and was
	// written under the "data" key (see EncodeEvent).
	HeaderPayload = "eventsource_payload"

	HeaderDLQReason            = "dlq_reason"
	HeaderDLQErrorType         = "dlq_error_type"
	HeaderDLQErrorMessage      = "dlq_error_message"
	HeaderDLQRetryCount        = "dlq_retry_count"
	HeaderDLQTimestamp         = "dlq_timestamp"
	HeaderDLQOriginalTopic     = "dlq_original_topic"
	HeaderDLQOriginalPartition = "dlq_original_partition"
	HeaderDLQOriginalOffset    = "dlq_original_offset"
	HeaderDLQConsumerGroup     = "dlq_consumer_group"
)

// ErrDecode is wrapped by every DecodeEvent error: the record goes to the DLQ
// with reason deserialization_error.
var ErrDecode = buswire.ErrDecode

// EncodeEvent is the record value: eventsource-py's DomainEvent JSON. The
// envelope fields (event_id, event_type, event_version=1, occurred_at,
// aggregate_id, aggregate_type, aggregate_version, correlation_id, metadata
// and the optional tenant_id, actor_id, causation_id, taken from Metadata)
// sit next to the payload's fields, as a pydantic subclass of DomainEvent
// serialises them. A payload that is not a JSON object (or has a field with
// an envelope name) is written under "data" instead and flagged with the
// eventsource_payload header; correlation_id defaults to the event id.
func EncodeEvent(e eventsource.Event) (value []byte, nested bool, err error) {
	return buswire.Encode(e)
}

// eventHeaders are eventsource-py's headers for e.
func eventHeaders(e eventsource.Event, nested bool) []kgo.RecordHeader {
	h := []kgo.RecordHeader{
		{Key: HeaderEventID, Value: []byte(e.ID)},
		{Key: HeaderEventType, Value: []byte(e.Type)},
		{Key: HeaderAggregateID, Value: []byte(e.AggregateID)},
		{Key: HeaderAggregateType, Value: []byte(e.AggregateType)},
		{Key: HeaderAggregateVersion, Value: []byte(strconv.FormatInt(e.Version, 10))},
		{Key: HeaderOccurredAt, Value: []byte(e.Timestamp.UTC().Format(buswire.ISOTime))},
	}
	h = append(h, kgo.RecordHeader{Key: HeaderCorrelationID, Value: []byte(buswire.CorrelationID(e))})
	for _, k := range []string{HeaderTenantID, HeaderCausationID, HeaderActorID} {
		if v := e.Metadata[k]; v != "" {
			h = append(h, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	if e.Position > 0 {
		h = append(h, kgo.RecordHeader{Key: HeaderPosition, Value: []byte(strconv.FormatInt(e.Position, 10))})
	}
	if nested {
		h = append(h, kgo.RecordHeader{Key: HeaderPayload, Value: []byte("data")})
	}
	return h
}

// DecodeEvent reads an event from a record written by EncodeEvent or by
// eventsource-py. It needs the event_type header (as eventsource-py does) and
// a JSON object with string event_id, event_type and aggregate_id.
func DecodeEvent(r *kgo.Record) (eventsource.Event, error) {
	if header(r, HeaderEventType) == "" {
		return eventsource.Event{}, fmt.Errorf("%w: missing %s header", ErrDecode, HeaderEventType)
	}
	e, err := buswire.Decode(r.Value, header(r, HeaderPayload) == "data")
	if err != nil {
		return eventsource.Event{}, err
	}
	if p := header(r, HeaderPosition); p != "" {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			e.Position = n
		}
	}
	return e, nil
}

// header returns the last value of a header, "" when absent.
func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

// headerCarrier is a propagation.TextMapCarrier over record headers.
type headerCarrier struct{ r *kgo.Record }

func (c headerCarrier) Get(key string) string { return header(c.r, key) }

func (c headerCarrier) Set(key, value string) {
	for i := range c.r.Headers {
		if c.r.Headers[i].Key == key {
			c.r.Headers[i].Value = []byte(value)
			return
		}
	}
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c.r.Headers))
	for i, h := range c.r.Headers {
		keys[i] = h.Key
	}
	return keys
}

// traceCarrier exposes only the W3C headers eventsource-py extracts
// (traceparent, tracestate, baggage), so no other header is read as context.
type traceCarrier struct{ r *kgo.Record }

var traceHeaders = []string{"traceparent", "tracestate", "baggage"}

func (c traceCarrier) Get(key string) string {
	for _, k := range traceHeaders {
		if k == key {
			return header(c.r, key)
		}
	}
	return ""
}
func (traceCarrier) Set(string, string) {}
func (c traceCarrier) Keys() []string {
	var keys []string
	for _, k := range traceHeaders {
		if header(c.r, k) != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// errorType names an error for error.type and dlq_error_type.
func errorType(err error) string { return buswire.ErrorType(err) }
