package kafkabus_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

// FuzzDecodeEvent feeds arbitrary record values and headers to DecodeEvent:
// it must return an event or an ErrDecode (the consumer's cue to dead-letter
// the record as deserialization_error), never panic; and a decoded event must
// encode and decode again to the same identity.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","event_type":"OrderPlaced","aggregate_id":"o1","aggregate_type":"Order",`+
		`"aggregate_version":3,"occurred_at":"2026-11-29T20:36:12.123456Z","metadata":{"a":1},"sku":"x"}`), "OrderPlaced", "")
	f.Add([]byte(`{"event_id":"e2","event_type":"T","aggregate_id":"a","data":[1,2]}`), "T", "data")
	f.Add([]byte(`not json`), "T", "")
	f.Add([]byte(`{"event_id":1}`), "", "")
	f.Fuzz(func(t *testing.T, value []byte, eventType, payloadHeader string) {
		r := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			{Key: kafkabus.HeaderEventType, Value: []byte(eventType)},
			{Key: "eventsource_payload", Value: []byte(payloadHeader)},
		}}
		e, err := kafkabus.DecodeEvent(r)
		if err != nil {
			if !errors.Is(err, kafkabus.ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		again := roundTrip(t, e)
		if again.ID != e.ID || again.Type != e.Type || again.AggregateID != e.AggregateID || again.Version != e.Version {
			t.Fatalf("round trip changed the event: %+v -> %+v", e, again)
		}
	})
}

func roundTrip(t *testing.T, e eventsource.Event) eventsource.Event {
	value, nested, err := kafkabus.EncodeEvent(e)
	if err != nil {
		t.Skipf("not encodable: %v", err) // e.g. a payload that is not valid JSON after decoding
	}
	headers := []kgo.RecordHeader{{Key: kafkabus.HeaderEventType, Value: []byte(e.Type)}}
	if nested {
		headers = append(headers, kgo.RecordHeader{Key: "eventsource_payload", Value: []byte("data")})
	}
	again, err := kafkabus.DecodeEvent(&kgo.Record{Value: value, Headers: headers})
	if err != nil {
		t.Fatalf("an encoded event does not decode: %v\n%s", err, value)
	}
	return again
}
