package eventsource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// orderService shows the TracingMixin equivalent: embed Tracing.
type orderService struct {
	eventsource.Tracing
	repo *eventsource.Repository[*order]
}

func (s *orderService) place(ctx context.Context, id string) (*order, error) {
	return eventsource.Traced(ctx, &s.Tracing, "order_service.place_order", func(ctx context.Context) (*order, error) {
		o := s.repo.New(id)
		if err := o.Place(1); err != nil {
			return nil, err
		}
		_, err := s.repo.Save(ctx, o)
		return o, err
	}, attribute.String(semconv.AttrESAggregateID, id))
}

func TestTracingMixinAndTraced(t *testing.T) {
	sr, tp := newRecorder(t)
	opt := eventsource.WithTracerProvider(tp)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: eventsource.NewInMemoryEventStore(opt), Factory: newOrder}, opt)
	require.NoError(t, err)
	svc := &orderService{repo: repo}
	svc.InitTracing("order_service", opt)
	require.True(t, svc.TracingEnabled())

	_, err = svc.place(context.Background(), "o1")
	require.NoError(t, err)
	boom := errors.New("boom")
	err = svc.Traced(context.Background(), "order_service.fail", func(context.Context) error { return boom })
	require.ErrorIs(t, err, boom)

	spans := sr.Ended()
	place := one(t, spans, "order_service.place_order")
	assert.Equal(t, "order_service", place.InstrumentationScope().Name)
	assert.Equal(t, "o1", attrs(place)[semconv.AttrESAggregateID].AsString())
	assertChild(t, one(t, spans, semconv.SpanRepositorySave), place)
	assert.Equal(t, codes.Error, one(t, spans, "order_service.fail").Status().Code)

	var off orderService
	off.InitTracing("x", opt, eventsource.WithTracing(false))
	assert.False(t, off.TracingEnabled())
	ctx, span := off.StartSpan(context.Background(), "nothing")
	assert.False(t, span.IsRecording())
	assert.Equal(t, context.Background(), ctx)
}

func TestSlogTraceHandler(t *testing.T) {
	_, tp := newRecorder(t)
	var buf bytes.Buffer
	log := slog.New(eventsource.NewTraceHandler(slog.NewJSONHandler(&buf, nil)))
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")

	dec := json.NewDecoder(&buf)
	var in, out map[string]any
	require.NoError(t, dec.Decode(&in))
	require.NoError(t, dec.Decode(&out))
	assert.Equal(t, span.SpanContext().TraceID().String(), in[semconv.LogKeyTraceID])
	assert.Equal(t, span.SpanContext().SpanID().String(), in[semconv.LogKeySpanID])
	assert.NotContains(t, out, semconv.LogKeyTraceID)
}

func TestSeedMetricsOptIn(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a := newApp(t, eventsource.WithMeterProvider(mp))
	ctx := context.Background()
	_, err := a.commands.Dispatch(ctx, placeOrder{ID: "o1", Qty: 1})
	require.NoError(t, err)
	_, err = a.commands.Dispatch(ctx, placeOrder{ID: "o2", Qty: 0})
	require.Error(t, err)
	require.NoError(t, a.bus.Drain(ctx))
	_, err = eventsource.Execute[[]string](ctx, a.queries, listOrders{})
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	for _, name := range []string{semconv.MetricCommandDuration, semconv.MetricCommandTotal, semconv.MetricEventsProduced,
		semconv.MetricQueryDuration, semconv.MetricQueryTotal, semconv.MetricQueryResultSize, semconv.MetricProjectionLag} {
		assert.Contains(t, got, name)
	}
	total := got[semconv.MetricCommandTotal].(metricdata.Sum[int64])
	byStatus := map[string]int64{}
	for _, dp := range total.DataPoints {
		st, _ := dp.Attributes.Value(semconv.MetricAttrCommandStatus)
		byStatus[st.AsString()] += dp.Value
	}
	assert.Equal(t, map[string]int64{semconv.StatusSuccess: 1, semconv.StatusError: 1}, byStatus)
}
