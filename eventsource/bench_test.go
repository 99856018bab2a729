package eventsource_test

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// benchCommand measures one PlaceOrder command: command span, repository
// save, store append (4 spans when traced), no bus.
func benchCommand(b *testing.B, opts ...eventsource.Option) {
	store := eventsource.NewInMemoryEventStore(opts...)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	bus := eventsource.NewCommandBus(opts...)
	if err := eventsource.Register(bus, func(ctx context.Context, c placeOrder) error {
		o := repo.New(c.ID)
		if err := o.Place(1); err != nil {
			return err
		}
		_, err := repo.Save(ctx, o)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprint("o", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bus.Dispatch(ctx, placeOrder{ID: ids[i], Qty: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandTyped is BenchmarkCommandSDK with a handler registered by
// Register: the events come from the repository, not the handler's result.
func BenchmarkCommandTyped(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	opt := eventsource.WithTracerProvider(tp)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: eventsource.NewInMemoryEventStore(opt), Factory: newOrder}, opt)
	if err != nil {
		b.Fatal(err)
	}
	bus := eventsource.NewCommandBus(opt)
	if err := eventsource.Register(bus, func(ctx context.Context, c placeOrder) error {
		o := repo.New(c.ID)
		if err := o.Place(1); err != nil {
			return err
		}
		_, err := repo.Save(ctx, o)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprint("o", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bus.Dispatch(ctx, placeOrder{ID: ids[i], Qty: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandNoProvider: no TracerProvider installed (the global no-op).
func BenchmarkCommandNoProvider(b *testing.B) { benchCommand(b) }

// BenchmarkCommandTracingOff: tracing switched off on every component.
func BenchmarkCommandTracingOff(b *testing.B) { benchCommand(b, eventsource.WithTracing(false)) }

// BenchmarkCommandSDK: the SDK recording every span into a no-op exporter.
func BenchmarkCommandSDK(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	benchCommand(b, eventsource.WithTracerProvider(tp))
}

// BenchmarkStartSpan isolates the per-span overhead of the Tracing helper.
func BenchmarkStartSpan(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	cases := map[string][]eventsource.Option{
		"no_provider": nil,
		"tracing_off": {eventsource.WithTracing(false)},
		"sdk":         {eventsource.WithTracerProvider(tp)},
	}
	for name, opts := range cases {
		b.Run(name, func(b *testing.B) {
			var tr eventsource.Tracing
			tr.InitTracing("bench", opts...)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, span := tr.StartSpan(ctx, "x")
				span.End()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/span")
		})
	}
}
