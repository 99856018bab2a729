package kafkabus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

// A record as eventsource-py 0.14 writes it (pydantic model_dump_json and
// publisher.py's headers) decodes into an Event.
func TestDecodePythonRecord(t *testing.T) {
	r := &kgo.Record{
		Value: []byte(`{"event_id":"3f1c2a9e-8d7b-4c6a-9e0f-1a2b3c4d5e6f","event_type":"OrderCreated","event_version":1,` +
			`"occurred_at":"2026-11-29T20:36:12.123456Z","aggregate_id":"5b1f4c2e-0000-4000-8000-000000000001",` +
			`"aggregate_type":"Order","aggregate_version":3,"tenant_id":null,"actor_id":"user-9",` +
			`"correlation_id":"c0ffee00-0000-4000-8000-000000000000","causation_id":null,` +
			`"metadata":{"source":"api","attempt":2},"customer":"acme","total":12.5}`),
		Headers: []kgo.RecordHeader{{Key: "event_type", Value: []byte("OrderCreated")}},
	}
	e, err := kafkabus.DecodeEvent(r)
	require.NoError(t, err)
	assert.Equal(t, "3f1c2a9e-8d7b-4c6a-9e0f-1a2b3c4d5e6f", e.ID)
	assert.Equal(t, "OrderCreated", e.Type)
	assert.Equal(t, "Order", e.AggregateType)
	assert.Equal(t, int64(3), e.Version)
	assert.Equal(t, time.Date(2026, 11, 29, 20, 36, 12, 123456000, time.UTC), e.Timestamp)
	assert.JSONEq(t, `{"customer":"acme","total":12.5}`, string(e.Data))
	assert.Equal(t, map[string]string{"source": "api", "attempt": "2", "actor_id": "user-9",
		"correlation_id": "c0ffee00-0000-4000-8000-000000000000"}, e.Metadata)
}

// A payload that is not a JSON object, or that has a field named like an
// envelope field, is carried under "data" and round-trips exactly.
func TestEncodeNestedPayload(t *testing.T) {
	for _, data := range []string{`[1,2,3]`, `"text"`, `{"event_id":"clash","x":1}`} {
		e := eventsource.Event{ID: "id", Type: "T", AggregateID: "a", Timestamp: time.Unix(0, 0), Data: json.RawMessage(data)}
		value, nested, err := kafkabus.EncodeEvent(e)
		require.NoError(t, err)
		require.True(t, nested, data)
		r := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			{Key: "event_type", Value: []byte("T")}, {Key: kafkabus.HeaderPayload, Value: []byte("data")}}}
		got, err := kafkabus.DecodeEvent(r)
		require.NoError(t, err)
		assert.JSONEq(t, data, string(got.Data))
	}
}

func TestDecodeErrors(t *testing.T) {
	for name, r := range map[string]*kgo.Record{
		"no event_type header": {Value: []byte(`{"event_id":"x","event_type":"T","aggregate_id":"a"}`)},
		"not json":             {Value: []byte(`nope`), Headers: []kgo.RecordHeader{{Key: "event_type", Value: []byte("T")}}},
		"no aggregate_id":      {Value: []byte(`{"event_id":"x","event_type":"T"}`), Headers: []kgo.RecordHeader{{Key: "event_type", Value: []byte("T")}}},
		"bad occurred_at": {Value: []byte(`{"event_id":"x","event_type":"T","aggregate_id":"a","occurred_at":"yesterday"}`),
			Headers: []kgo.RecordHeader{{Key: "event_type", Value: []byte("T")}}},
	} {
		_, err := kafkabus.DecodeEvent(r)
		assert.ErrorIs(t, err, kafkabus.ErrDecode, name)
	}
}
