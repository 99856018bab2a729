package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

type order struct {
	eventsource.Root
	placed bool
}

func newOrder(id string) *order {
	o := &order{}
	o.Init(id, "Order", func(e eventsource.Event) error {
		o.placed = o.placed || e.Type == "OrderPlaced"
		return nil
	})
	return o
}

// The bus is a Repository's Publisher: the producer span is a child of the
// save span, and a publish the brokers do not take stays pending in the
// repository (Save still succeeds).
func TestRepositoryPublisher(t *testing.T) {
	brokers := cluster(t, 1)
	a := newService(t, "A")
	bus := newBus(t, kafkabus.Config{Brokers: brokers, Topic: topic, ConsumerGroup: "g"}, a.opts()...)
	h := &recorder{name: "H"}
	bus.Subscribe(h)
	stop := consume(t, bus)

	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: eventsource.NewInMemoryEventStore(eventsource.WithTracerProvider(a.tp)), Factory: newOrder, Publisher: bus},
		eventsource.WithTracerProvider(a.tp))
	require.NoError(t, err)
	o := repo.New("order-7")
	require.NoError(t, o.Raise("OrderPlaced", map[string]int{"qty": 1}))
	_, err = repo.Save(context.Background(), o)
	require.NoError(t, err)
	h.waitFor(t, 1)
	assert.Equal(t, "order-7", h.events()[0].AggregateID)
	assert.Equal(t, int64(1), h.events()[0].Version)
	assert.NotEmpty(t, h.events()[0].Metadata["traceparent"], "the store's trace context travels in the metadata")

	save := a.ended(t, "eventsource.repository.save")
	pub := a.ended(t, "eventsource.event_bus.publish OrderPlaced")
	con := a.ended(t, "eventsource.event_bus.consume OrderPlaced")
	require.NoError(t, stop())
	assert.Equal(t, save.SpanContext().SpanID(), pub.Parent().SpanID())
	assert.Equal(t, pub.SpanContext().SpanID(), con.Parent().SpanID())

	down := newBus(t, kafkabus.Config{Brokers: []string{"127.0.0.1:1"}, Topic: topic, ProduceTimeout: time.Second})
	repo2, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: eventsource.NewInMemoryEventStore(), Factory: newOrder, Publisher: down})
	require.NoError(t, err)
	o2 := repo2.New("order-8")
	require.NoError(t, o2.Raise("OrderPlaced", map[string]int{"qty": 1}))
	_, err = repo2.Save(context.Background(), o2)
	require.NoError(t, err, "the events are stored even though the bus is down")
	stats := repo2.PublishStats()
	assert.Equal(t, int64(1), stats.Failed)
	assert.Equal(t, 1, stats.Pending)
}
