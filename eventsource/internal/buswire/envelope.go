// Package buswire is what the message buses (kafkabus, rabbitbus) share with
// eventsource-py's: the DomainEvent JSON an event travels as, and how a
// consumer retries its handlers. Each bus keeps only what its broker makes
// different (headers, acknowledgements, dead-letter routing).
package buswire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Metadata keys that eventsource-py carries as DomainEvent fields, and so as
// fields of the JSON rather than under "metadata".
const (
	KeyCorrelationID = "correlation_id"
	KeyTenantID      = "tenant_id"
	KeyCausationID   = "causation_id"
	KeyActorID       = "actor_id"
)

// MetadataFields are the metadata keys written as DomainEvent fields.
var MetadataFields = []string{KeyTenantID, KeyActorID, KeyCorrelationID, KeyCausationID}

// Event JSON keys: eventsource-py's DomainEvent fields.
var envelopeKeys = map[string]bool{
	"event_id": true, "event_type": true, "event_version": true, "occurred_at": true,
	"aggregate_id": true, "aggregate_type": true, "aggregate_version": true, "tenant_id": true,
	"actor_id": true, "correlation_id": true, "causation_id": true, "metadata": true,
}

// ISOTime is Python's datetime.isoformat() for an aware UTC datetime
// (microseconds, "+00:00"), which pydantic parses.
const ISOTime = "2006-01-02T15:04:05.000000-07:00"

// ErrDecode is wrapped by every Decode error: a consumer dead-letters the
// message with reason deserialization_error.
var ErrDecode = errors.New("eventsource: cannot decode event")

// Encode is eventsource-py's DomainEvent JSON for e. The envelope fields
// (event_id, event_type, event_version=1, occurred_at, aggregate_id,
// aggregate_type, aggregate_version, correlation_id, metadata and the optional
// tenant_id, actor_id, causation_id, taken from Metadata) sit next to the
// payload's fields, as a pydantic subclass of DomainEvent serialises them. A
// payload that is not a JSON object (or has a field with an envelope name) is
// written under "data" instead and nested is true: the bus flags it in a
// header for Decode. correlation_id defaults to the event id.
func Encode(e eventsource.Event) (value []byte, nested bool, err error) {
	doc := map[string]any{}
	payload := bytes.TrimSpace(e.Data)
	if len(payload) > 0 && payload[0] == '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(payload, &fields); err != nil {
			return nil, false, fmt.Errorf("eventsource: event %s payload: %w", e.ID, err)
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
	for _, k := range MetadataFields {
		if v, ok := meta[k]; ok {
			doc[k] = v
			delete(meta, k)
		}
	}
	if _, ok := doc[KeyCorrelationID]; !ok {
		doc[KeyCorrelationID] = e.ID
	}
	doc["event_id"] = e.ID
	doc["event_type"] = e.Type
	doc["event_version"] = 1
	doc["occurred_at"] = e.Timestamp.UTC().Format(ISOTime)
	doc["aggregate_id"] = e.AggregateID
	doc["aggregate_type"] = e.AggregateType
	doc["aggregate_version"] = e.Version
	doc["metadata"] = meta
	value, err = json.Marshal(doc)
	if err != nil {
		return nil, false, fmt.Errorf("eventsource: event %s: %w", e.ID, err)
	}
	return value, nested, nil
}

// CorrelationID is the correlation id Encode writes: the metadata's, else the event id.
func CorrelationID(e eventsource.Event) string {
	if c := e.Metadata[KeyCorrelationID]; c != "" {
		return c
	}
	return e.ID
}

// Decode reads an event from eventsource-py's DomainEvent JSON, or Encode's
// (nested: the bus's header said the payload is under "data"). It needs a
// JSON object with string event_id, event_type and aggregate_id.
func Decode(value []byte, nested bool) (eventsource.Event, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(value, &doc); err != nil {
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
		t, err := ParseTime(occurred)
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
	for _, k := range MetadataFields {
		var v string
		if err := str(k, &v, false); err != nil {
			return eventsource.Event{}, err
		}
		if v != "" && !(k == KeyCorrelationID && v == e.ID) {
			if e.Metadata == nil {
				e.Metadata = map[string]string{}
			}
			e.Metadata[k] = v
		}
	}
	if nested {
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

// ParseTime reads a Python isoformat() time, with or without its zone.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}
