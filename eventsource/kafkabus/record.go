package kafkabus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource"
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

// Event JSON keys: eventsource-py's DomainEvent fields.
var envelopeKeys = map[string]bool{
	"event_id": true, "event_type": true, "event_version": true, "occurred_at": true,
	"aggregate_id": true, "aggregate_type": true, "aggregate_version": true, "tenant_id": true,
	"actor_id": true, "correlation_id": true, "causation_id": true, "metadata": true,
}

// Metadata keys that eventsource-py carries as DomainEvent fields.
var metadataFields = []string{HeaderTenantID, HeaderActorID, HeaderCorrelationID, HeaderCausationID}

// isoTime is Python's datetime.isoformat() for an aware UTC datetime
// (microseconds, "+00:00"), which pydantic parses.
const isoTime = "2006-01-02T15:04:05.000000-07:00"

// ErrDecode is wrapped by every DecodeEvent error: the record goes to the DLQ
// with reason deserialization_error.
var ErrDecode = errors.New("kafkabus: cannot decode record")

// EncodeEvent is the record value: eventsource-py's DomainEvent JSON. The
// envelope fields (event_id, event_type, event_version=1, occurred_at,
// aggregate_id, aggregate_type, aggregate_version, correlation_id, metadata
// and the optional tenant_id, actor_id, causation_id, taken from Metadata)
// sit next to the payload's fields, as a pydantic subclass of DomainEvent
// serialises them. A payload that is not a JSON object (or has a field with
// an envelope name) is written under "data" instead and flagged with the
// eventsource_payload header; correlation_id defaults to the event id.
func EncodeEvent(e eventsource.Event) (value []byte, nested bool, err error) {
	doc := map[string]any{}
	payload := bytes.TrimSpace(e.Data)
	if len(payload) > 0 && payload[0] == '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(payload, &fields); err != nil {
			return nil, false, fmt.Errorf("kafkabus: event %s payload: %w", e.ID, err)
		}
		for k, v := range fields {
			if envelopeKeys[k] {
				nested = true
				break
			}
			doc[k] = v
		}
	} else if len(payload) > 0 {
		nested = true
	}
	if nested {
		doc = map[string]any{"data": json.RawMessage(payload)}
	}
	meta := map[string]string{}
	for k, v := range e.Metadata {
		meta[k] = v
	}
	for _, k := range metadataFields {
		if v, ok := meta[k]; ok {
			doc[k] = v
			delete(meta, k)
		}
	}
	if _, ok := doc[HeaderCorrelationID]; !ok {
		doc[HeaderCorrelationID] = e.ID
	}
	doc["event_id"] = e.ID
	doc["event_type"] = e.Type
	doc["event_version"] = 1
	doc["occurred_at"] = e.Timestamp.UTC().Format(isoTime)
	doc["aggregate_id"] = e.AggregateID
	doc["aggregate_type"] = e.AggregateType
	doc["aggregate_version"] = e.Version
	doc["metadata"] = meta
	value, err = json.Marshal(doc)
	if err != nil {
		return nil, false, fmt.Errorf("kafkabus: event %s: %w", e.ID, err)
	}
	return value, nested, nil
}

// eventHeaders are eventsource-py's headers for e.
func eventHeaders(e eventsource.Event, nested bool) []kgo.RecordHeader {
	h := []kgo.RecordHeader{
		{Key: HeaderEventID, Value: []byte(e.ID)},
		{Key: HeaderEventType, Value: []byte(e.Type)},
		{Key: HeaderAggregateID, Value: []byte(e.AggregateID)},
		{Key: HeaderAggregateType, Value: []byte(e.AggregateType)},
		{Key: HeaderAggregateVersion, Value: []byte(strconv.FormatInt(e.Version, 10))},
		{Key: HeaderOccurredAt, Value: []byte(e.Timestamp.UTC().Format(isoTime))},
	}
	corr := e.Metadata[HeaderCorrelationID]
	if corr == "" {
		corr = e.ID
	}
	h = append(h, kgo.RecordHeader{Key: HeaderCorrelationID, Value: []byte(corr)})
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
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(r.Value, &doc); err != nil {
		return eventsource.Event{}, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if doc == nil {
		return eventsource.Event{}, fmt.Errorf("%w: value is not a JSON object", ErrDecode)
	}
	var e eventsource.Event
	str := func(key string, dst *string, required bool) error {
		raw, ok := doc[key]
		if !ok || string(raw) == "null" {
			if required {
				return fmt.Errorf("%w: missing %s", ErrDecode, key)
			}
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrDecode, key, err)
		}
		return nil
	}
	if err := errors.Join(str("event_id", &e.ID, true), str("event_type", &e.Type, true),
		str("aggregate_id", &e.AggregateID, true), str("aggregate_type", &e.AggregateType, false)); err != nil {
		return eventsource.Event{}, err
	}
	if e.Type == "" {
		// Nothing can handle, route or re-publish an event without a type.
		return eventsource.Event{}, fmt.Errorf("%w: empty event_type", ErrDecode)
	}
	if raw, ok := doc["aggregate_version"]; ok {
		if err := json.Unmarshal(raw, &e.Version); err != nil {
			return eventsource.Event{}, fmt.Errorf("%w: aggregate_version: %w", ErrDecode, err)
		}
	}
	var occurred string
	if err := str("occurred_at", &occurred, false); err != nil {
		return eventsource.Event{}, err
	}
	if occurred != "" {
		t, err := parseTime(occurred)
		if err != nil {
			return eventsource.Event{}, fmt.Errorf("%w: occurred_at: %w", ErrDecode, err)
		}
		e.Timestamp = t
	}
	if raw, ok := doc["metadata"]; ok && string(raw) != "null" {
		var meta map[string]json.RawMessage
		if err := json.Unmarshal(raw, &meta); err != nil {
			return eventsource.Event{}, fmt.Errorf("%w: metadata: %w", ErrDecode, err)
		}
		e.Metadata = make(map[string]string, len(meta))
		for k, v := range meta {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v) // a non-string Python value keeps its JSON text
			}
			e.Metadata[k] = s
		}
	}
	for _, k := range metadataFields {
		var v string
		if err := str(k, &v, false); err != nil {
			return eventsource.Event{}, err
		}
		if v != "" && !(k == HeaderCorrelationID && v == e.ID) {
			if e.Metadata == nil {
				e.Metadata = map[string]string{}
			}
			e.Metadata[k] = v
		}
	}
	if p := header(r, HeaderPosition); p != "" {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			e.Position = n
		}
	}
	if header(r, HeaderPayload) == "data" {
		e.Data = append(json.RawMessage(nil), doc["data"]...)
		return e, nil
	}
	payload := map[string]json.RawMessage{}
	for k, v := range doc {
		if !envelopeKeys[k] {
			payload[k] = v
		}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return eventsource.Event{}, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	e.Data = data
	return e, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
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

// errorType names an error for error.type and dlq_error_type: a record that
// could not be decoded is a DeserializationError (eventsource-py's name);
// anything else is named as the runtime names it (eventsource.ErrorType).
func errorType(err error) string {
	var named eventsource.ErrorTyper
	if errors.Is(err, ErrDecode) && !errors.As(err, &named) {
		return "DeserializationError"
	}
	return eventsource.ErrorType(err)
}
