package kafkabus_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// The transactional outbox in front of Kafka: Save stores the events and
// their outbox rows in one SQLite transaction, and the relay publishes the
// pending rows to the bus, marking them published only once the brokers
// acknowledged them. A crash between the two loses nothing: the rows are
// still pending when the relay runs again.
func Example_outbox() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.stream", "events.stream.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := sqlitestore.OpenConfig(filepath.Join(dir, "events.db"), sqlitestore.Config{Outbox: true})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	bus, err := kafkabus.New(kafkabus.Config{Brokers: cluster.ListenAddrs(), Topic: "events.stream", ConsumerGroup: "mailer"})
	if err != nil {
		panic(err)
	}
	defer bus.Close()

	// No Publisher: with an outbox store, the relay publishes.
	orders, err := eventsource.NewRepository(eventsource.RepositoryConfig[*eventsource.Root]{
		Store: store, Factory: func(id string) *eventsource.Root {
			r := &eventsource.Root{}
			r.Init(id, "Order", func(eventsource.Event) error { return nil })
			return r
		}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	order := orders.New("order-1")
	_ = order.Raise("OrderPlaced", map[string]int{"qty": 2})
	_ = order.Raise("OrderPaid", map[string]int{"amount": 40})
	if _, err := orders.Save(ctx, order); err != nil {
		panic(err)
	}
	pending, _ := store.Outbox().GetPending(ctx, 10)
	fmt.Println("pending after save:", len(pending))

	relay, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(), Publisher: bus})
	if err != nil {
		panic(err)
	}
	published, err := relay.RelayOnce(ctx) // or relay.Start(ctx) to poll; relay.Stop() at exit
	fmt.Println("published:", published, err)
	pending, _ = store.Outbox().GetPending(ctx, 10)
	fmt.Println("pending after relay:", len(pending))

	got := make(chan string, 2)
	bus.Subscribe(eventsource.HandlerFunc("OrderMailer", func(_ context.Context, e eventsource.Event) error {
		got <- fmt.Sprintf("%s v%d", e.Type, e.Version)
		return nil
	}))
	consumeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bus.Consume(consumeCtx) }()
	fmt.Println(<-got)
	fmt.Println(<-got)
	stop()
	<-done
	// Output:
	// pending after save: 2
	// published: 2 <nil>
	// pending after relay: 0
	// OrderPlaced v1
	// OrderPaid v2
}
