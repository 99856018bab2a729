package kafkabus_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// 1. A publish in service A and the consume in service B form one trace:
// consume's remote parent is the producer span, dispatch is under consume.
func TestPublishConsumeOneTrace(t *testing.T) {
	brokers := cluster(t, 1)
	a, b := newService(t, "A"), newService(t, "B")
	producer := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic}, a.opts()...)
	consumer := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "projections"}, b.opts()...)
	mailer := &recorder{name: "OrderMailer"}
	consumer.Subscribe(mailer)
	stop := consume(t, consumer)

	ctx, save := a.tp.Tracer("test").Start(context.Background(), "eventsource.repository.save")
	e := event("order-1", "OrderPlaced", map[string]any{"sku": "A-1", "qty": 2})
	e.Metadata["tenant_id"] = "t1"
	require.NoError(t, producer.Publish(ctx, []eventsource.Event{e}))
	save.End()

	mailer.waitFor(t, 1)
	got := mailer.events()[0]
	assert.Equal(t, e.ID, got.ID)
	assert.Equal(t, e.Type, got.Type)
	assert.Equal(t, e.AggregateID, got.AggregateID)
	assert.Equal(t, e.AggregateType, got.AggregateType)
	assert.Equal(t, e.Version, got.Version)
	assert.Equal(t, e.Position, got.Position)
	assert.True(t, e.Timestamp.Equal(got.Timestamp), "%v != %v", e.Timestamp, got.Timestamp)
	assert.JSONEq(t, string(e.Data), string(got.Data))
	assert.Equal(t, map[string]string{"source": "test", "tenant_id": "t1"}, got.Metadata)

	pub := a.ended(t, "eventsource.event_bus.publish OrderPlaced")
	con := b.ended(t, "eventsource.event_bus.consume OrderPlaced")
	dis := b.ended(t, "eventsource.event_bus.dispatch OrderMailer")
	require.NoError(t, stop())

	assert.Equal(t, trace.SpanKindProducer, pub.SpanKind())
	assert.Equal(t, save.SpanContext().SpanID(), pub.Parent().SpanID(), "publish is a child of the caller's span")
	assert.Equal(t, codes.Ok, pub.Status().Code)
	pa := attrs(pub.Attributes())
	for k, v := range map[string]string{"messaging.system": "kafka", "messaging.destination": topic,
		"messaging.destination_kind": "topic", "messaging.operation": "publish", "eventsource.event.type": "OrderPlaced",
		"eventsource.event.id": e.ID, "eventsource.aggregate.id": "order-1", "eventsource.aggregate.type": "Order",
		"messaging.kafka.partition": "0", "messaging.kafka.offset": "0"} {
		assert.Equal(t, v, pa[k], k)
	}
	assert.Equal(t, "A", resourceService(pub))

	// One trace, across services: consume's parent is the producer span, remote.
	assert.Equal(t, trace.SpanKindConsumer, con.SpanKind())
	assert.Equal(t, pub.SpanContext().TraceID(), con.SpanContext().TraceID())
	assert.Equal(t, pub.SpanContext().SpanID(), con.Parent().SpanID())
	assert.True(t, con.Parent().IsRemote())
	assert.Equal(t, codes.Ok, con.Status().Code)
	assert.Equal(t, "B", resourceService(con))
	ca := attrs(con.Attributes())
	for k, v := range map[string]string{"messaging.system": "kafka", "messaging.source": topic, "messaging.source_kind": "topic",
		"messaging.operation": "receive", "messaging.kafka.partition": "0", "messaging.kafka.offset": "0",
		"messaging.kafka.consumer_group": "projections", "eventsource.event.type": "OrderPlaced", "eventsource.event.id": e.ID,
		"eventsource.aggregate.id": "order-1", "eventsource.aggregate.type": "Order"} {
		assert.Equal(t, v, ca[k], k)
	}

	assert.Equal(t, trace.SpanKindInternal, dis.SpanKind())
	assert.Equal(t, con.SpanContext().SpanID(), dis.Parent().SpanID())
	assert.False(t, dis.Parent().IsRemote())
	assert.Equal(t, map[string]string{"eventsource.handler.name": "OrderMailer", "eventsource.event.type": "OrderPlaced",
		"eventsource.event.id": e.ID}, attrs(dis.Attributes()))
	assert.Equal(t, kafkabus.TracerName, pub.InstrumentationScope().Name)

	// The record as a Python consumer sees it.
	rec := readTopic(t, brokers, topic, 1)[0]
	assert.Equal(t, "order-1", string(rec.Key))
	h := headers(rec)
	for k, v := range map[string]string{"event_id": e.ID, "event_type": "OrderPlaced", "aggregate_id": "order-1",
		"aggregate_type": "Order", "aggregate_version": strconv.FormatInt(e.Version, 10), "correlation_id": e.ID,
		"tenant_id": "t1", "position": strconv.FormatInt(e.Position, 10)} {
		assert.Equal(t, v, h[k], k)
	}
	assert.Equal(t, e.Timestamp.Format("2006-01-02T15:04:05.000000")+"+00:00", h["occurred_at"])
	assert.Equal(t, "00-"+pub.SpanContext().TraceID().String()+"-"+pub.SpanContext().SpanID().String()+"-01", h["traceparent"],
		"the producer span's own context is injected")
	assert.JSONEq(t, `{"event_id":"`+e.ID+`","event_type":"OrderPlaced","event_version":1,"occurred_at":"`+h["occurred_at"]+
		`","aggregate_id":"order-1","aggregate_type":"Order","aggregate_version":`+strconv.FormatInt(e.Version, 10)+
		`,"correlation_id":"`+e.ID+`","tenant_id":"t1","metadata":{"source":"test"},"sku":"A-1","qty":2}`, string(rec.Value))

	am, bm := a.collect(t), b.collect(t)
	assert.Equal(t, 1.0, total(am, kafkabus.MetricMessagesPublished, map[string]string{"messaging.system": "kafka",
		"messaging.destination": topic, "event.type": "OrderPlaced"}))
	assert.Equal(t, 1.0, total(am, kafkabus.MetricPublishDuration, map[string]string{"messaging.destination": topic}))
	assert.Equal(t, 1.0, total(am, kafkabus.MetricBatchSize, nil))
	assert.Equal(t, 1.0, total(bm, kafkabus.MetricMessagesConsumed, map[string]string{"messaging.system": "kafka",
		"messaging.destination": topic, "messaging.kafka.partition": "0", "event.type": "OrderPlaced"}))
	assert.Equal(t, 1.0, total(bm, kafkabus.MetricHandlerInvocations, map[string]string{"handler.name": "OrderMailer", "event.type": "OrderPlaced"}))
	assert.Equal(t, 1.0, total(bm, kafkabus.MetricHandlerDuration, map[string]string{"handler.name": "OrderMailer"}))
	assert.Equal(t, 1.0, total(bm, kafkabus.MetricConsumeDuration, map[string]string{"messaging.destination": topic}))
	assert.GreaterOrEqual(t, total(bm, kafkabus.MetricRebalances, map[string]string{"messaging.kafka.consumer_group": "projections"}), 1.0)
}

func resourceService(s sdktrace.ReadOnlySpan) string {
	v, _ := s.Resource().Set().Value("service.name")
	return v.AsString()
}

// 2. A handler that keeps failing: MaxRetries retries, then the DLQ topic,
// with eventsource-py's dlq_* headers; handler.errors and messages.dlq count.
func TestHandlerFailureGoesToDLQ(t *testing.T) {
	brokers := cluster(t, 1)
	s := newService(t, "B")
	bus := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "g", MaxRetries: 2,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 2 * time.Millisecond}, s.opts()...)
	failing := &recorder{name: "Broken", fn: func(context.Context, eventsource.Event) error { return &stockError{} }}
	ok := &recorder{name: "Fine"}
	bus.Subscribe(failing)
	bus.Subscribe(ok)
	stop := consume(t, bus)

	bad, good := event("order-1", "OrderPlaced", map[string]int{"n": 1}), event("order-2", "OrderShipped", map[string]int{"n": 2})
	require.NoError(t, bus.Publish(context.Background(), []eventsource.Event{bad}))
	dl := readTopic(t, brokers, topic+".dlq", 1)[0]
	// Stop failing: the next record is handled normally.
	failing.mu.Lock()
	failing.fn = nil
	failing.mu.Unlock()
	require.NoError(t, bus.Publish(context.Background(), []eventsource.Event{good}))
	ok.waitFor(t, 2)
	require.NoError(t, stop())

	assert.Equal(t, []string{bad.ID, bad.ID, bad.ID, good.ID}, ids(failing.events()), "1 attempt + MaxRetries=2 retries")
	assert.Equal(t, []string{bad.ID, good.ID}, ids(ok.events()), "a handler that succeeded is not called again")

	assert.Equal(t, "order-1", string(dl.Key))
	h := headers(dl)
	for k, v := range map[string]string{"dlq_reason": "max_retries_exceeded", "dlq_error_type": "StockError",
		"dlq_error_message": "out of stock", "dlq_retry_count": "2", "dlq_original_topic": topic,
		"dlq_original_partition": "0", "dlq_original_offset": "0", "dlq_consumer_group": "g",
		"event_type": "OrderPlaced", "event_id": bad.ID} {
		assert.Equal(t, v, h[k], k)
	}
	assert.NotEmpty(t, h["dlq_timestamp"])
	assert.NotEmpty(t, h["traceparent"], "the original headers are kept")

	rm := s.collect(t)
	assert.Equal(t, 3.0, total(rm, kafkabus.MetricHandlerErrors, map[string]string{"handler.name": "Broken",
		"event.type": "OrderPlaced", "error.type": "StockError"}))
	assert.Equal(t, 1.0, total(rm, kafkabus.MetricMessagesDLQ, map[string]string{"dlq.reason": "max_retries_exceeded", "error.type": "StockError"}))
	assert.Equal(t, 1.0, total(rm, kafkabus.MetricMessagesDLQ, nil))
	assert.Equal(t, 1.0, total(rm, kafkabus.MetricHandlerInvocations, map[string]string{"handler.name": "Broken"}))
	assert.Equal(t, 2.0, total(rm, kafkabus.MetricHandlerInvocations, map[string]string{"handler.name": "Fine"}))

	con := s.ended(t, "eventsource.event_bus.consume OrderPlaced")
	assert.Equal(t, codes.Error, con.Status().Code)
	assert.Equal(t, "2", attrs(con.Attributes())["eventsource.retry.count"])
	assert.Len(t, s.endedAll("eventsource.event_bus.dispatch Broken"), 4)
	assert.Len(t, s.endedAll("eventsource.event_bus.dispatch Fine"), 2)
}

type stockError struct{}

func (*stockError) Error() string     { return "out of stock" }
func (*stockError) ErrorType() string { return "StockError" }

// 3. A consumer stopped and restarted in the same group resumes after the
// last committed record: every event is handled exactly once (a clean stop
// finishes and commits the record in progress).
func TestRestartResumesFromCommittedOffset(t *testing.T) {
	brokers := cluster(t, 1)
	cfg := kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "g"}
	producer := newBus(t, cfg)
	first := events(5, "order-1")
	require.NoError(t, producer.Publish(context.Background(), first))

	// The first consumer stops itself while handling the third event.
	var mu sync.Mutex
	handled := map[string]int{} // event id -> times handled
	count := func(e eventsource.Event) {
		mu.Lock()
		handled[e.ID]++
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c1 := &recorder{name: "H", fn: func(_ context.Context, e eventsource.Event) error {
		count(e)
		if e.ID == first[2].ID {
			cancel()
		}
		return nil
	}}
	bus1 := newBus(t, cfg)
	bus1.Subscribe(c1)
	require.NoError(t, bus1.Consume(ctx))
	require.NoError(t, bus1.Close())
	assert.Equal(t, ids(first[:3]), ids(c1.events()))

	second := events(5, "order-1")
	require.NoError(t, producer.Publish(context.Background(), second))

	c2 := &recorder{name: "H", fn: func(_ context.Context, e eventsource.Event) error { count(e); return nil }}
	bus2 := newBus(t, cfg)
	bus2.Subscribe(c2)
	stop := consume(t, bus2)
	c2.waitFor(t, 7)
	require.NoError(t, stop())

	all := append(append([]eventsource.Event(nil), first...), second...)
	assert.Equal(t, ids(all[3:]), ids(c2.events()), "the restarted consumer starts after the committed offset, in order")
	mu.Lock()
	defer mu.Unlock()
	for _, e := range all {
		assert.Equal(t, 1, handled[e.ID], "event %s handled once", e.ID)
	}
}

// 4. consumer.lag follows a slow consumer: > 0 while its handler blocks, 0
// once it has caught up.
func TestConsumerLagGauge(t *testing.T) {
	brokers := cluster(t, 1)
	s := newService(t, "B")
	bus := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "slow"}, s.opts()...)
	release := make(chan struct{})
	h := &recorder{name: "Slow", fn: func(ctx context.Context, _ eventsource.Event) error {
		<-release
		return nil
	}}
	bus.Subscribe(h)
	require.NoError(t, bus.Publish(context.Background(), events(5, "order-1")))
	stop := consume(t, bus)

	lag := func() (float64, bool) {
		ps := points(s.collect(t), kafkabus.MetricConsumerLag)
		for _, p := range ps {
			if p.attrs["messaging.kafka.partition"] == "0" && p.attrs["messaging.destination"] == topic &&
				p.attrs["messaging.kafka.consumer_group"] == "slow" {
				return p.value, true
			}
		}
		return 0, false
	}
	h.waitFor(t, 1) // blocked in the first record
	require.Eventually(t, func() bool { v, ok := lag(); return ok && v == 5 }, deadline, tick, "lag while blocked")
	active := total(s.collect(t), kafkabus.MetricConnectionsActive, map[string]string{"messaging.kafka.consumer_group": "slow"})
	assert.Equal(t, 1.0, active)

	close(release)
	h.waitFor(t, 5)
	require.Eventually(t, func() bool { v, ok := lag(); return ok && v == 0 }, deadline, tick, "lag after catching up")
	require.NoError(t, stop())
	v, reported := lag()
	assert.True(t, reported, "the lag as the consumer left it, once")
	assert.Zero(t, v)
	_, reported = lag()
	assert.False(t, reported, "then no lag is reported while not consuming (as eventsource-py)")
	assert.Zero(t, total(s.collect(t), kafkabus.MetricReconnections, nil),
		"no reconnection: the broker never went away (franz-go's own connection churn is none)")
}

// 5. A poisoned record goes to the DLQ with reason deserialization_error and
// the next good record on the same partition is handled.
func TestPoisonedRecordGoesToDLQ(t *testing.T) {
	brokers := cluster(t, 1)
	s := newService(t, "B")
	bus := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "g"}, s.opts()...)
	h := &recorder{name: "H"}
	bus.Subscribe(h)

	raw, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer raw.Close()
	poison := []*kgo.Record{
		{Topic: topic, Partition: 0, Key: []byte("order-1"), Value: []byte("{not json"),
			Headers: []kgo.RecordHeader{{Key: "event_type", Value: []byte("OrderPlaced")}}},
		{Topic: topic, Partition: 0, Key: []byte("order-1"), Value: []byte(`{"event_id":"x"}`)}, // no event_type header
	}
	require.NoError(t, raw.ProduceSync(context.Background(), poison...).FirstErr())
	good := event("order-1", "OrderPlaced", map[string]int{"n": 1})
	require.NoError(t, bus.Publish(context.Background(), []eventsource.Event{good}))

	stop := consume(t, bus)
	h.waitFor(t, 1)
	dl := readTopic(t, brokers, topic+".dlq", 2)
	require.NoError(t, stop())

	assert.Equal(t, []string{good.ID}, ids(h.events()))
	assert.Equal(t, "{not json", string(dl[0].Value))
	for i, r := range dl {
		hd := headers(r)
		assert.Equal(t, "deserialization_error", hd["dlq_reason"], i)
		assert.Equal(t, "DeserializationError", hd["dlq_error_type"], i)
		assert.Equal(t, strconv.Itoa(i), hd["dlq_original_offset"], i)
		assert.Equal(t, "0", hd["dlq_retry_count"], i)
	}
	rm := s.collect(t)
	assert.Equal(t, 2.0, total(rm, kafkabus.MetricMessagesDLQ, map[string]string{"dlq.reason": "deserialization_error"}))
	assert.Equal(t, 2.0, total(rm, kafkabus.MetricMessagesConsumed, nil), "a record without event_type is not counted, as in eventsource-py")
	con := s.endedAll("eventsource.event_bus.consume OrderPlaced")
	require.Len(t, con, 2)
	assert.Equal(t, codes.Error, con[0].Status().Code)
	assert.Equal(t, codes.Ok, con[1].Status().Code)
}

// 6. Publishing to an unreachable broker fails within ProduceTimeout with an
// error naming the broker, counted in publish.errors.
func TestPublishUnreachableBroker(t *testing.T) {
	s := newService(t, "A")
	bus := newBus(t, kafkabus.Config{Brokers: []string{"127.0.0.1:1"}, Topic: topic, ProduceTimeout: time.Second}, s.opts()...)
	err := bus.Publish(context.Background(), events(2, "order-1"))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "kafkabus: publish to 127.0.0.1:1: "), err.Error())
	rm := s.collect(t)
	assert.Equal(t, 2.0, total(rm, kafkabus.MetricPublishErrors, map[string]string{"messaging.system": "kafka",
		"messaging.destination": topic, "event.type": "OrderPlaced"}))
	assert.Equal(t, 0.0, total(rm, kafkabus.MetricMessagesPublished, nil))
	assert.GreaterOrEqual(t, total(rm, kafkabus.MetricConnectionErrors, nil), 1.0, "failed dials are connection errors")
	spans := s.endedAll("eventsource.event_bus.publish OrderPlaced")
	require.Len(t, spans, 2)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
}

func TestConfigValidation(t *testing.T) {
	_, err := kafkabus.New(kafkabus.Config{})
	require.ErrorIs(t, err, kafkabus.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "Brokers is empty")
	assert.Contains(t, err.Error(), "Topic is empty")

	_, err = kafkabus.New(kafkabus.Config{Brokers: []string{"b:9092"}, Topic: "t", DLQTopic: "t"})
	require.ErrorIs(t, err, kafkabus.ErrInvalidConfig)
	assert.Contains(t, err.Error(), `DLQTopic "t" is the same as Topic`)

	bus, err := kafkabus.New(kafkabus.Config{Brokers: []string{"b:9092"}, Topic: "events.stream"})
	require.NoError(t, err)
	defer bus.Close()
	cfg := bus.Config()
	assert.Equal(t, "events.stream.dlq", cfg.DLQTopic)
	assert.Equal(t, 3, cfg.MaxRetries)
	assert.Equal(t, time.Second, cfg.RetryBaseDelay)
	err = bus.Consume(context.Background())
	require.ErrorIs(t, err, kafkabus.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "ConsumerGroup is empty")

	require.NoError(t, bus.Close())
	assert.ErrorIs(t, bus.Publish(context.Background(), events(1, "x")), kafkabus.ErrClosed)
}

// Several partitions: each aggregate's events arrive in order, every
// partition's lag returns to 0, and Close stops a running Consume.
func TestPartitionsOrderAndClose(t *testing.T) {
	brokers := cluster(t, 3)
	s := newService(t, "B")
	bus := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "g", MaxPollRecords: 4}, s.opts()...)
	h := &recorder{name: "H"}
	bus.Subscribe(h)
	done := make(chan error, 1)
	go func() { done <- bus.Consume(context.Background()) }()

	var all []eventsource.Event
	for _, agg := range []string{"order-1", "order-2", "order-3", "order-4"} {
		all = append(all, events(6, agg)...)
	}
	require.NoError(t, bus.Publish(context.Background(), all))
	h.waitFor(t, len(all))

	last := map[string]int64{}
	for _, e := range h.events() {
		assert.Greater(t, e.Version, last[e.AggregateID], "aggregate %s in order", e.AggregateID)
		last[e.AggregateID] = e.Version
	}
	assert.ElementsMatch(t, ids(all), ids(h.events()))
	require.Eventually(t, func() bool {
		ps := points(s.collect(t), kafkabus.MetricConsumerLag)
		if len(ps) != 3 {
			return false
		}
		for _, p := range ps {
			if p.value != 0 {
				return false
			}
		}
		return true
	}, deadline, tick, "every partition's lag back to 0")

	require.NoError(t, bus.Close())
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(deadline):
		t.Fatal("Consume did not return after Close")
	}
	assert.ErrorIs(t, bus.Consume(context.Background()), kafkabus.ErrClosed)
}
