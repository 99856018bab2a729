// Package rabbitbus is a RabbitMQ event bus for the eventsource runtime, on
// the maintained AMQP 0-9-1 client (github.com/rabbitmq/amqp091-go), whose
// messages and spans are eventsource-py 0.14's RabbitMQ bus: the same
// exchange, queue and dead-letter names, message properties and headers
// (event_type, aggregate_type, aggregate_id, aggregate_version,
// x-retry-count, x-dlq-*), routing key "<aggregate_type>.<event_type>", and
// the "eventsource.event_bus.publish" (PRODUCER), "eventsource.event_bus.consume"
// (CONSUMER) and "eventsource.event_bus.handle" spans, so Python and Go
// producers and consumers can share an exchange.
//
// It is its own module so that the AMQP client stays out of the runtime's go.mod.
//
//	bus, err := rabbitbus.New(rabbitbus.Config{URL: "amqp://guest:guest@127.0.0.1:5672/",
//		Exchange: "orders", ConsumerGroup: "projections"})
//	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Order]{
//		Store: store, Factory: NewOrder, Publisher: bus})
//	bus.Subscribe(eventsource.HandlerFunc("OrderMailer", mail))
//	go bus.Consume(ctx)
//	defer bus.Close()
package rabbitbus
