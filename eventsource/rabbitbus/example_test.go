package rabbitbus_test

import (
	"context"
	"errors"
	"log"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
)

// A service that keeps a read model: it declares its consumer group's queue
// (so nothing published from now on is dropped), consumes until ctx ends,
// and lists and replays what went to the dead-letter queue. It needs a
// broker, so it is compiled but not run; TestPublishConsumeOneTrace runs the
// same calls on a throw-away node.
func Example() {
	ctx := context.Background()
	bus, err := rabbitbus.New(rabbitbus.Config{
		URL:           "amqp://app:secret@127.0.0.1:5672/orders",
		Exchange:      "orders",
		ConsumerGroup: "mailer",
		MaxRetries:    5,
	})
	if err != nil {
		log.Fatal(err) // an invalid config: every field named at once
	}
	defer bus.Close()
	if err := bus.Declare(ctx); err != nil {
		log.Fatal(err) // the broker is unreachable, or refused the topology
	}
	bus.Subscribe(eventsource.HandlerFunc("OrderMailer", func(ctx context.Context, e eventsource.Event) error {
		if e.Type != "OrderPlaced" {
			return nil
		}
		return errors.New("mail server down") // retried MaxRetries times, then dead-lettered
	}))
	go func() {
		if err := bus.Consume(ctx); err != nil {
			log.Print(err)
		}
	}()

	// Later, from an admin endpoint: what failed, and put it back once the cause is fixed.
	dead, err := bus.DeadLetters(ctx, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range dead {
		log.Printf("%s %s: %s (%s, %d retries)", d.MessageID, d.Event.Type, d.Reason, d.ErrorType, d.RetryCount)
		if err := bus.ReplayDeadLetter(ctx, d.MessageID); err != nil {
			log.Print(err)
		}
	}
}
