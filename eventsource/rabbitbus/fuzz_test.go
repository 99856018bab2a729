package rabbitbus_test

import (
	"encoding/json"
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
)

// FuzzDecodeMessage feeds arbitrary message bodies and headers to
// DecodeMessage: it must return an event or an ErrDecode (the consumer's cue
// to dead-letter the message), never panic; and what NewMessage writes for a
// decoded event decodes to the same event.
func FuzzDecodeMessage(f *testing.F) {
	f.Add("OrderPlaced", "", `{"event_id":"e1","event_type":"OrderPlaced","aggregate_id":"a1","amount":3}`)
	f.Add("OrderPlaced", "data", `{"event_id":"e1","event_type":"OrderPlaced","aggregate_id":"a1","data":[1,2]}`)
	f.Add("X", "", `{"event_id":"e","event_type":"X","aggregate_id":"a","occurred_at":"2026-01-02T03:04:05.5+02:00","metadata":{"k":1}}`)
	f.Add("", "", `{}`)
	f.Fuzz(func(t *testing.T, eventType, payload, body string) {
		h := amqp.Table{"event_type": eventType, "eventsource_payload": payload}
		e, err := rabbitbus.DecodeMessage(h, []byte(body))
		if err != nil {
			if !errors.Is(err, rabbitbus.ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		msg, err := rabbitbus.NewMessage(e, false)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		again, err := rabbitbus.DecodeMessage(msg.Headers, msg.Body)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", msg.Body, err)
		}
		if !sameEvent(e, again) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, again)
		}
	})
}

func sameEvent(a, b eventsource.Event) bool {
	if a.ID != b.ID || a.Type != b.Type || a.AggregateID != b.AggregateID || a.AggregateType != b.AggregateType ||
		a.Version != b.Version || a.Position != b.Position || !a.Timestamp.Truncate(1000).Equal(b.Timestamp.Truncate(1000)) {
		return false
	}
	var x, y any
	// No payload and an empty object are the same payload.
	if len(a.Data) == 0 {
		a.Data = json.RawMessage("{}")
	}
	if json.Unmarshal(a.Data, &x) != nil || json.Unmarshal(b.Data, &y) != nil {
		return string(a.Data) == string(b.Data)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys) && len(a.Metadata) == len(b.Metadata)
}
