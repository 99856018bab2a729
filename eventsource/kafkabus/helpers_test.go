package kafkabus_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

// deadline bounds every wait in these tests; nothing asserts a duration.
const deadline = 30 * time.Second
const tick = 10 * time.Millisecond

const topic = "events.stream"

// cluster starts an in-process single-broker Kafka with the topic and its DLQ.
func cluster(t *testing.T, partitions int32) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, topic+kafkabus.DefaultDLQSuffix))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// service is one process's telemetry: spans recorded under service.name.
type service struct {
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
}

func newService(t *testing.T, name string) *service {
	t.Helper()
	s := &service{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	res := resource.NewSchemaless(attribute.String("service.name", name))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

func (s *service) opts() []kafkabus.Option {
	return []kafkabus.Option{kafkabus.WithTracerProvider(s.tp), kafkabus.WithMeterProvider(s.mp)}
}

// ended returns the ended span named name, waiting for it.
func (s *service) ended(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, sp := range s.spans.Ended() {
			if sp.Name() == name {
				found = sp
				return true
			}
		}
		return false
	}, deadline, tick, "span %q never ended", name)
	return found
}

func (s *service) endedAll(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

func (s *service) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	return rm
}

// point is one data point: its attributes as strings and its value.
type point struct {
	attrs map[string]string
	value float64
}

// points returns the data points of the metric named name (sums, gauges,
// and histogram counts as values).
func points(rm metricdata.ResourceMetrics, name string) []point {
	var out []point
	conv := func(set attribute.Set) map[string]string {
		m := map[string]string{}
		for _, kv := range set.ToSlice() {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		return m
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{conv(p.Attributes), float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{conv(p.Attributes), float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{conv(p.Attributes), float64(p.Count)})
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{conv(p.Attributes), float64(p.Count)})
				}
			}
		}
	}
	return out
}

// total sums the points of name whose attributes include want.
func total(rm metricdata.ResourceMetrics, name string, want map[string]string) float64 {
	var sum float64
	for _, p := range points(rm, name) {
		ok := true
		for k, v := range want {
			if p.attrs[k] != v {
				ok = false
			}
		}
		if ok {
			sum += p.value
		}
	}
	return sum
}

// consume runs bus.Consume in the background; the returned stop cancels it
// and returns Consume's error.
func consume(t *testing.T, bus *kafkabus.Bus) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- bus.Consume(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(deadline):
				err = errors.New("Consume did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// recorder is a handler that records the events it sees.
type recorder struct {
	name string
	mu   sync.Mutex
	seen []eventsource.Event
	fn   func(context.Context, eventsource.Event) error
}

func (r *recorder) HandlerName() string { return r.name }

func (r *recorder) HandleEvent(ctx context.Context, e eventsource.Event) error {
	r.mu.Lock()
	r.seen = append(r.seen, e)
	r.mu.Unlock()
	if r.fn != nil {
		return r.fn(ctx, e)
	}
	return nil
}

func (r *recorder) events() []eventsource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventsource.Event(nil), r.seen...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *recorder) waitFor(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return r.count() >= n }, deadline, tick, "%s saw fewer than %d events", r.name, n)
}

var seq int

func event(aggregateID, typ string, payload any) eventsource.Event {
	seq++
	data, _ := json.Marshal(payload)
	return eventsource.Event{
		ID: eventsource.NewEventID(), Type: typ, AggregateID: aggregateID, AggregateType: "Order",
		Version: int64(seq), Position: int64(seq), Timestamp: time.Now().UTC().Truncate(time.Microsecond),
		Data: data, Metadata: map[string]string{"source": "test"},
	}
}

func events(n int, aggregateID string) []eventsource.Event {
	out := make([]eventsource.Event, n)
	for i := range out {
		out[i] = event(aggregateID, "OrderPlaced", map[string]any{"n": i})
	}
	return out
}

// readTopic reads n records of a topic from the start, without a group.
func readTopic(t *testing.T, brokers []string, name string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records from %s", len(out), n, name)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

func ids(es []eventsource.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func newBus(t *testing.T, cfg kafkabus.Config, opts ...kafkabus.Option) *kafkabus.Bus {
	t.Helper()
	bus, err := kafkabus.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bus.Close() })
	return bus
}
