package eventsource_test

import (
	"context"
	"fmt"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Wiring a store, a bus, a repository, a projection and the command bus.
// With no TracerProvider installed nothing is traced and nothing allocates
// for tracing; install one (otel.SetTracerProvider or WithTracerProvider)
// and every call below emits the seed spans.
func Example() {
	ctx := context.Background()
	store := eventsource.NewInMemoryEventStore()
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	defer bus.Close()
	repo, _ := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: store, AggregateType: "Order", Factory: newOrder, Publisher: bus})

	view := &summary{}
	runner, _ := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: view, Store: store})
	_, _ = runner.CatchUp(ctx)
	bus.Subscribe(runner)

	commands := eventsource.NewCommandBus()
	commands.Register("PlaceOrder", func(ctx context.Context, c eventsource.Command) ([]eventsource.Event, error) {
		o := repo.New(c.(placeOrder).ID)
		if err := o.Place(c.(placeOrder).Qty); err != nil {
			return nil, err
		}
		return repo.Save(ctx, o)
	})
	events, err := commands.Dispatch(ctx, placeOrder{ID: "o1", Qty: 2})
	fmt.Println(len(events), events[0].Type, events[0].Position, err)

	_ = bus.Drain(ctx)
	fmt.Println(view.byID["o1"], runner.Checkpoint())
	// Output:
	// 1 OrderPlaced 1 <nil>
	// OrderPlaced 1
}
