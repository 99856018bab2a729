package rabbitbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// A message is acknowledged only after its handlers succeed: when the
// connection is lost while a handler runs, the broker delivers the message
// again, and Consume reconnects by itself and gets it.
func TestAcknowledgedOnlyAfterHandlersAcrossAConnectionLoss(t *testing.T) {
	url := rabbittest.NewVhost(t)
	sub := newBus(t, rabbitbus.Config{URL: url, ConsumerGroup: "g", ReconnectDelay: 50 * time.Millisecond})
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	h := &recorder{name: "Slow", fail: func(eventsource.Event, int) error {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	}}
	sub.Subscribe(h)
	consume(t, sub)
	pub := newBus(t, rabbitbus.Config{URL: url})
	ev := events(2, "order-3")
	require.NoError(t, pub.Publish(context.Background(), ev[:1]))

	select {
	case <-entered:
	case <-time.After(deadline):
		t.Fatal("the handler was never called")
	}
	require.NoError(t, rabbittest.Shared(t).CloseConnections(context.Background(), url))
	close(release)
	require.Eventually(t, func() bool { return h.calls(ev[0].ID) == 2 }, deadline, tick,
		"the message whose acknowledgement was lost is delivered again")
	require.NoError(t, pub.Publish(context.Background(), ev[1:]), "the publisher reopens its connection")
	require.Eventually(t, func() bool { return h.calls(ev[1].ID) == 1 }, deadline, tick)
	require.NoError(t, sub.Close())
	assert.Zero(t, queueDepth(t, url, "events.g"))
	assert.Equal(t, 3, h.total())
}

// A message as eventsource-py 0.14 publishes it (serialization.py
// create_message_with_tracing: aio-pika writes Python ints as 64-bit, the
// caller's context in traceparent, pydantic's JSON) is read as the same
// event; an x-retry-count from its retry republish counts as retries made.
func TestReadsEventsourcePyMessages(t *testing.T) {
	url := rabbittest.NewVhost(t)
	svc := newService(t, "projections")
	sub := newBus(t, rabbitbus.Config{URL: url, ConsumerGroup: "g", MaxRetries: 3, RetryBaseDelay: 1, RetryMaxDelay: 1},
		rabbitbus.WithTracerProvider(svc.tp))
	h := &recorder{name: "H", fail: func(eventsource.Event, int) error { return assert.AnError }}
	sub.Subscribe(h)
	consume(t, sub)
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	body := `{"event_id":"6f1c1a2e-5d3b-4c9a-9f1e-2b7d8c4a1e01","event_type":"OrderPlaced","event_version":1,` +
		`"occurred_at":"2026-12-07T12:00:00.250000Z","aggregate_id":"0b6f7e34-1c2d-4e5f-8a9b-0c1d2e3f4a5b",` +
		`"aggregate_type":"Order","aggregate_version":4,"tenant_id":null,"actor_id":null,` +
		`"correlation_id":"9a8b7c6d-0000-4000-8000-000000000001","causation_id":null,"metadata":{},` +
		`"customer_id":"c-42","total":"99.50"}`
	publishRaw(t, url, rabbitbus.DefaultExchange, "Order.OrderPlaced", amqp.Publishing{
		Headers: amqp.Table{"event_type": "OrderPlaced", "aggregate_type": "Order",
			"aggregate_id": "0b6f7e34-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "aggregate_version": int64(4),
			"x-retry-count": int64(2), "correlation_id": "9a8b7c6d-0000-4000-8000-000000000001",
			"traceparent": traceparent},
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent,
		MessageId: "6f1c1a2e-5d3b-4c9a-9f1e-2b7d8c4a1e01", Timestamp: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		Body: []byte(body)})

	dead := deadLetters(t, sub, 1)
	assert.Equal(t, 2, h.total(), "x-retry-count 2 of MaxRetries 3: one call and one retry are left")
	assert.Equal(t, 3, dead[0].RetryCount)
	h.mu.Lock()
	e := h.got[0]
	h.mu.Unlock()
	assert.Equal(t, "6f1c1a2e-5d3b-4c9a-9f1e-2b7d8c4a1e01", e.ID)
	assert.Equal(t, "OrderPlaced", e.Type)
	assert.Equal(t, "Order", e.AggregateType)
	assert.Equal(t, int64(4), e.Version)
	assert.Equal(t, time.Date(2026, 12, 7, 12, 0, 0, 250000000, time.UTC), e.Timestamp)
	assert.JSONEq(t, `{"customer_id":"c-42","total":"99.50"}`, string(e.Data))
	assert.Equal(t, "9a8b7c6d-0000-4000-8000-000000000001", e.Metadata["correlation_id"])

	consumes := svc.named(semconv.SpanBusConsume)
	require.Len(t, consumes, 1)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", consumes[0].SpanContext().TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", consumes[0].Parent().SpanID().String(), "the remote parent is the publisher's traceparent")
	assert.Equal(t, trace.SpanKindConsumer, consumes[0].SpanKind())
}
