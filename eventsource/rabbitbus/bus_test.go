package rabbitbus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Events published in one service reach every handler of a consumer group in
// another, once each, in order, with their fields intact; and one trace runs
// from the writer's span through publish, consume and handle to the spans a
// handler starts.
func TestPublishConsumeOneTrace(t *testing.T) {
	url := rabbittest.NewVhost(t)
	writer, projections := newService(t, "writer"), newService(t, "projections")
	pub := newBus(t, rabbitbus.Config{URL: url, Exchange: "orders"}, rabbitbus.WithTracerProvider(writer.tp))
	sub := newBus(t, rabbitbus.Config{URL: url, Exchange: "orders", ConsumerGroup: "projections"},
		rabbitbus.WithTracerProvider(projections.tp))
	tracer := projections.tp.Tracer("app")
	summary := &recorder{name: "OrderSummary"}
	mailer := &recorder{name: "OrderMailer", fail: func(e eventsource.Event, _ int) error {
		_, sp := tracer.Start(context.Background(), "mail")
		sp.End()
		return nil
	}}
	sub.Subscribe(summary)
	sub.Subscribe(eventsource.HandlerFunc("OrderMailerTraced", func(ctx context.Context, e eventsource.Event) error {
		_, sp := tracer.Start(ctx, "projection.apply")
		defer sp.End()
		return mailer.HandleEvent(ctx, e)
	}))
	consume(t, sub)

	ctx, cmd := writer.tp.Tracer("app").Start(context.Background(), "command.PlaceOrder")
	sent := events(3, "order-1")
	sent[1].Metadata = map[string]string{"tenant_id": "t1", "causation_id": "c1", "note": "kept"}
	sent[2].Data = []byte(`[1,2,3]`) // not an object: travels under "data"
	require.NoError(t, pub.Publish(ctx, sent))
	cmd.End()

	require.Eventually(t, func() bool { return summary.total() == 3 && mailer.total() == 3 }, deadline, tick)
	summary.mu.Lock()
	for i, e := range summary.got {
		assert.Equal(t, sent[i].ID, e.ID, "in order")
		assert.Equal(t, sent[i].Type, e.Type)
		assert.Equal(t, sent[i].AggregateID, e.AggregateID)
		assert.Equal(t, sent[i].AggregateType, e.AggregateType)
		assert.Equal(t, sent[i].Version, e.Version)
		assert.Equal(t, sent[i].Position, e.Position)
		assert.True(t, sent[i].Timestamp.Equal(e.Timestamp), "%v vs %v", sent[i].Timestamp, e.Timestamp)
		assert.JSONEq(t, string(sent[i].Data), string(e.Data))
	}
	assert.Equal(t, map[string]string{"tenant_id": "t1", "causation_id": "c1", "note": "kept"}, summary.got[1].Metadata)
	summary.mu.Unlock()

	publishes := writer.named(semconv.SpanBusPublish)
	require.Len(t, publishes, 3)
	byEvent := map[string]trace.SpanContext{}
	for _, p := range publishes {
		a := attrs(p)
		assert.Equal(t, trace.SpanKindProducer, p.SpanKind())
		assert.Equal(t, cmd.SpanContext().SpanID(), p.Parent().SpanID(), "publish is a child of the caller's span")
		assert.Equal(t, "rabbitmq", a["messaging.system"].AsString())
		assert.Equal(t, "orders", a["messaging.destination"].AsString())
		assert.Equal(t, "exchange", a["messaging.destination_kind"].AsString())
		assert.Equal(t, "Order.OrderPlaced", a["messaging.rabbitmq.routing_key"].AsString())
		assert.Equal(t, "Order", a["aggregate.type"].AsString(), "eventsource-py's unprefixed key")
		assert.Equal(t, "order-1", a["eventsource.aggregate.id"].AsString())
		assert.Equal(t, codes.Ok, p.Status().Code)
		byEvent[a["eventsource.event.id"].AsString()] = p.SpanContext()
	}
	require.Eventually(t, func() bool { return len(projections.named(semconv.SpanBusConsume)) == 3 }, deadline, tick)
	handles := projections.named(semconv.SpanBusHandle)
	require.Len(t, handles, 6, "one handle span per handler and event")
	for _, c := range projections.named(semconv.SpanBusConsume) {
		a := attrs(c)
		id := a["event.id"].AsString()
		assert.Equal(t, id, a["eventsource.event.id"].AsString())
		assert.Equal(t, trace.SpanKindConsumer, c.SpanKind())
		assert.Equal(t, byEvent[id].SpanID(), c.Parent().SpanID(), "consume's parent is its event's publish span")
		assert.True(t, c.Parent().IsRemote())
		assert.Equal(t, cmd.SpanContext().TraceID(), c.SpanContext().TraceID())
		assert.Equal(t, "orders.projections", a["messaging.destination"].AsString())
		assert.Equal(t, "queue", a["messaging.destination_kind"].AsString())
		assert.Equal(t, id, a["messaging.message_id"].AsString())
		assert.Equal(t, int64(2), a["eventsource.handler.count"].AsInt64())
		assert.Equal(t, codes.Ok, c.Status().Code)
		n := 0
		for _, h := range handles {
			if h.Parent().SpanID() == c.SpanContext().SpanID() {
				n++
				ha := attrs(h)
				assert.Equal(t, id, ha["eventsource.event.id"].AsString())
				assert.True(t, ha["eventsource.handler.success"].AsBool())
				assert.Contains(t, []string{"OrderSummary", "OrderMailerTraced"}, ha["eventsource.handler.name"].AsString())
			}
		}
		assert.Equal(t, 2, n, "both handle spans of %s under its consume span", id)
	}
	for _, apply := range projections.named("projection.apply") {
		var parent trace.SpanContext
		for _, h := range handles {
			if h.SpanContext().SpanID() == apply.Parent().SpanID() {
				parent = h.SpanContext()
			}
		}
		assert.True(t, parent.IsValid(), "a handler's span is a child of its handle span")
		assert.Equal(t, cmd.SpanContext().TraceID(), apply.SpanContext().TraceID(), "one trace from the command to the apply")
	}
	require.NoError(t, sub.Close())
	assert.Zero(t, queueDepth(t, url, "orders.projections"), "every message acknowledged")
}

// A failing handler is retried alone (the one that succeeded is not called
// again); after MaxRetries the message goes to the dead-letter queue with
// eventsource-py's headers, and replaying it hands it back with a fresh
// retry count to the handler, fixed meanwhile.
func TestRetriesThenDeadLetterThenReplay(t *testing.T) {
	url := rabbittest.NewVhost(t)
	svc := newService(t, "projections")
	cfg := rabbitbus.Config{URL: url, ConsumerGroup: "g", MaxRetries: 2, RetryBaseDelay: 1, RetryMaxDelay: 1}
	sub := newBus(t, cfg, rabbitbus.WithTracerProvider(svc.tp))
	fixed := make(chan struct{})
	flaky := &recorder{name: "Flaky", fail: func(eventsource.Event, int) error {
		select {
		case <-fixed:
			return nil
		default:
			return errors.New("read model unavailable")
		}
	}}
	steady := &recorder{name: "Steady"}
	sub.Subscribe(steady)
	sub.Subscribe(flaky)
	consume(t, sub)
	pub := newBus(t, rabbitbus.Config{URL: url})
	ev := events(1, "order-9")
	require.NoError(t, pub.Publish(context.Background(), ev))

	dead := deadLetters(t, sub, 1)
	assert.Equal(t, 3, flaky.calls(ev[0].ID), "one call and MaxRetries retries")
	assert.Equal(t, 1, steady.calls(ev[0].ID), "the handler that succeeded is not called again")
	d := dead[0]
	assert.Equal(t, ev[0].ID, d.MessageID)
	assert.Equal(t, ev[0].ID, d.Event.ID)
	assert.Empty(t, d.DecodeError)
	assert.Equal(t, "read model unavailable", d.Reason)
	assert.Equal(t, "_OTHER", d.ErrorType, "an errors.New sentinel has no meaningful type name")
	assert.Equal(t, 2, d.RetryCount)
	assert.Equal(t, "Order.OrderPlaced", d.OriginalRoutingKey)
	assert.False(t, d.DeadLetteredAt.IsZero())
	assert.False(t, d.RejectedByBroker)
	consumes := svc.named(semconv.SpanBusConsume)
	require.Len(t, consumes, 1)
	assert.Equal(t, codes.Error, consumes[0].Status().Code)
	assert.Equal(t, int64(2), attrs(consumes[0])["eventsource.retry.count"].AsInt64())
	var failed int
	for _, h := range svc.named(semconv.SpanBusHandle) {
		if !attrs(h)["eventsource.handler.success"].AsBool() {
			failed++
		}
	}
	assert.Equal(t, 3, failed, "a handle span per failed attempt")
	again, err := sub.DeadLetters(context.Background(), 0)
	require.NoError(t, err)
	assert.Len(t, again, 1, "listing leaves the dead letter in its queue")

	close(fixed)
	require.ErrorIs(t, sub.ReplayDeadLetter(context.Background(), "no-such-id"), rabbitbus.ErrDeadLetterNotFound)
	require.NoError(t, sub.ReplayDeadLetter(context.Background(), ev[0].ID))
	require.Eventually(t, func() bool { return flaky.calls(ev[0].ID) == 4 }, deadline, tick)
	assert.Equal(t, 2, steady.calls(ev[0].ID), "a replay delivers the event again to the group")
	deadLetters(t, sub, 0)
}

// A message that cannot be decoded goes to the dead-letter queue at once
// (eventsource-py drops it), and the messages after it are handled.
func TestUndecodableMessageIsDeadLettered(t *testing.T) {
	url := rabbittest.NewVhost(t)
	sub := newBus(t, rabbitbus.Config{URL: url, ConsumerGroup: "g"})
	h := &recorder{name: "H"}
	sub.Subscribe(h)
	consume(t, sub)
	publishRaw(t, url, rabbitbus.DefaultExchange, "Order.OrderPlaced", amqpMessage("bad-1", map[string]any{"event_type": "OrderPlaced"}, `{not json`))
	publishRaw(t, url, rabbitbus.DefaultExchange, "Order.OrderPlaced", amqpMessage("bad-2", nil, `{}`))
	pub := newBus(t, rabbitbus.Config{URL: url})
	ev := events(1, "order-2")
	require.NoError(t, pub.Publish(context.Background(), ev))
	require.Eventually(t, func() bool { return h.calls(ev[0].ID) == 1 }, deadline, tick)
	dead := deadLetters(t, sub, 2)
	for _, d := range dead {
		assert.Equal(t, "DeserializationError", d.ErrorType, d.MessageID)
		assert.NotEmpty(t, d.DecodeError)
		assert.Zero(t, d.RetryCount)
	}
	assert.Equal(t, 1, h.total())
}

func TestConfig(t *testing.T) {
	b, err := rabbitbus.New(rabbitbus.Config{ConsumerGroup: "projections"})
	require.NoError(t, err)
	c := b.Config()
	assert.Equal(t, rabbitbus.DefaultURL, c.URL)
	assert.Equal(t, "events", c.Exchange)
	assert.Equal(t, "topic", c.ExchangeType)
	assert.Equal(t, "events.projections", c.QueueName())
	assert.Equal(t, "events_dlq", c.DLQExchange())
	assert.Equal(t, "events.projections.dlq", c.DLQQueue())
	assert.Equal(t, "#", c.BindingKey)
	assert.Equal(t, 3, c.MaxRetries)
	assert.Equal(t, 10, c.Prefetch)

	d, err := rabbitbus.New(rabbitbus.Config{ExchangeType: "Direct", ConsumerGroup: "w"})
	require.NoError(t, err)
	assert.Equal(t, "events.w", d.Config().BindingKey, "a direct exchange binds the queue name, as eventsource-py")

	_, err = rabbitbus.New(rabbitbus.Config{URL: "http://u:secret@host/", ExchangeType: "x-delayed", RetryJitter: 2,
		RetryBaseDelay: 10, RetryMaxDelay: 5})
	require.ErrorIs(t, err, rabbitbus.ErrInvalidConfig)
	for _, want := range []string{"scheme must be amqp or amqps", `ExchangeType "x-delayed"`, "RetryJitter 2", "RetryMaxDelay"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "secret", "the password is not in the error")

	_, err = b.DeadLetters(context.Background(), 0)
	require.Error(t, err, "no broker at the default URL in tests")
	nogroup, err := rabbitbus.New(rabbitbus.Config{})
	require.NoError(t, err)
	require.ErrorIs(t, nogroup.Consume(context.Background()), rabbitbus.ErrInvalidConfig)
	require.NoError(t, nogroup.Close())
	require.ErrorIs(t, nogroup.Publish(context.Background(), events(1, "a")), rabbitbus.ErrClosed)
}
