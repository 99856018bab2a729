// Package globaltest checks the runtime against the global TracerProvider.
// It is its own test binary because it installs a global provider.
package globaltest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func TestGlobalProviderInstalledAfterConstruction(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	var svc eventsource.Tracing
	svc.InitTracing("svc")
	assert.False(t, svc.TracingEnabled(), "no provider installed: no spans at all")
	ctx := context.Background()
	_, err := store.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{storetest.NewEvent("X")})
	require.NoError(t, err)

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	assert.True(t, svc.TracingEnabled())
	require.NoError(t, svc.Traced(ctx, "svc.op", func(ctx context.Context) error {
		_, err := store.AppendEvents(ctx, "a", "Order", 1, []eventsource.Event{storetest.NewEvent("Y")})
		return err
	}))
	spans := sr.Ended()
	require.Len(t, spans, 2, "only the calls made after the provider was installed are traced")
	assert.Equal(t, semconv.EventStoreInMemory+semconv.SpanSuffixAppendEvents, spans[0].Name())
	assert.Equal(t, spans[1].SpanContext().SpanID(), spans[0].Parent().SpanID())
}
