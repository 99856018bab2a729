// Package kafkabus is a Kafka event bus for the eventsource runtime, on
// franz-go, whose telemetry is eventsource-py 0.14's Kafka bus: the
// "eventsource.event_bus.publish <type>" (PRODUCER), "eventsource.event_bus.consume
// <type>" (CONSUMER) and "eventsource.event_bus.dispatch <handler>" spans, the
// kafka.eventbus.* metrics, and the same record headers and DLQ headers, so
// Python and Go producers and consumers can share a topic.
//
// It is its own module so that franz-go stays out of the runtime's go.mod.
//
//	bus, err := kafkabus.New(kafkabus.Config{Brokers: []string{"127.0.0.1:9092"},
//		Topic: "events.stream", ConsumerGroup: "projections"})
//	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Order]{
//		Store: store, Factory: NewOrder, Publisher: bus})
//	bus.Subscribe(eventsource.HandlerFunc("OrderMailer", mail))
//	go bus.Consume(ctx)
//	defer bus.Close()
package kafkabus
