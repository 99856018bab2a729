package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

// Publish one event and consume it, on an in-process Kafka.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.stream", "events.stream.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	bus, err := kafkabus.New(kafkabus.Config{
		Brokers:       cluster.ListenAddrs(),
		Topic:         "events.stream",
		ConsumerGroup: "mailer",
	})
	if err != nil {
		panic(err)
	}
	defer bus.Close()

	got := make(chan eventsource.Event, 1)
	bus.Subscribe(eventsource.HandlerFunc("OrderMailer", func(_ context.Context, e eventsource.Event) error {
		got <- e
		return nil
	}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Consume(ctx) }()

	data, _ := json.Marshal(map[string]any{"sku": "A-1", "qty": 2})
	err = bus.Publish(context.Background(), []eventsource.Event{{
		ID: eventsource.NewEventID(), Type: "OrderPlaced", AggregateID: "order-1", AggregateType: "Order",
		Version: 1, Timestamp: time.Now(), Data: data,
	}})
	if err != nil {
		panic(err)
	}

	e := <-got
	var payload struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	_ = e.Decode(&payload)
	fmt.Println(e.Type, e.AggregateID, e.Version, payload.SKU, payload.Qty)

	stop()
	fmt.Println("consume:", <-done)
	// Output:
	// OrderPlaced order-1 1 A-1 2
	// consume: <nil>
}
