package rabbitbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
)

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m)) }

// deadline bounds every wait in these tests; nothing asserts a duration.
const deadline = 30 * time.Second
const tick = 10 * time.Millisecond

// service is one process's telemetry: spans recorded under service.name.
type service struct {
	tp    *sdktrace.TracerProvider
	spans *tracetest.SpanRecorder
}

func newService(t *testing.T, name string) *service {
	t.Helper()
	s := &service{spans: tracetest.NewSpanRecorder()}
	res := resource.NewSchemaless(attribute.String("service.name", name))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() { _ = s.tp.Shutdown(context.Background()) })
	return s
}

// named returns the ended spans named name.
func (s *service) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

func attrs(sp sdktrace.ReadOnlySpan) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range sp.Attributes() {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// newBus makes a bus on cfg (URL: a vhost of the test's own when empty), closed at the end of the test.
func newBus(t *testing.T, cfg rabbitbus.Config, opts ...rabbitbus.Option) *rabbitbus.Bus {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = rabbittest.NewVhost(t)
	}
	b, err := rabbitbus.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// consume runs b.Consume until the test ends, failing it when Consume returns an error.
func consume(t *testing.T, b *rabbitbus.Bus) {
	t.Helper()
	require.NoError(t, b.Declare(context.Background()))
	errc := make(chan error, 1)
	go func() { errc <- b.Consume(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, b.Close())
		require.NoError(t, <-errc)
	})
}

// events makes n events of one aggregate, each a JSON object payload.
func events(n int, aggregate string) []eventsource.Event {
	out := make([]eventsource.Event, n)
	for i := range out {
		out[i] = eventsource.Event{ID: fmt.Sprintf("%s-ev%d", aggregate, i+1), Type: "OrderPlaced", AggregateID: aggregate,
			AggregateType: "Order", Version: int64(i + 1), Position: int64(i + 1),
			Timestamp: time.Date(2026, 12, 7, 12, 0, i, 123456000, time.UTC),
			Data:      json.RawMessage(fmt.Sprintf(`{"amount":%d}`, 10*(i+1)))}
	}
	return out
}

// recorder is a handler that records what it got, failing while fail says so.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []eventsource.Event
	fail func(e eventsource.Event, attempt int) error
}

func (r *recorder) HandlerName() string { return r.name }

func (r *recorder) HandleEvent(_ context.Context, e eventsource.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	attempt := 0
	for _, g := range r.got {
		if g.ID == e.ID {
			attempt++
		}
	}
	r.got = append(r.got, e)
	if r.fail != nil {
		return r.fail(e, attempt)
	}
	return nil
}

// calls is how many times the handler was called for event id.
func (r *recorder) calls(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g.ID == id {
			n++
		}
	}
	return n
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// channel opens a channel on a connection of its own to url, closed at the end of the test.
func channel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// queueDepth is the number of ready messages in a queue of the bus's vhost.
func queueDepth(t *testing.T, url, queue string) int {
	t.Helper()
	q, err := channel(t, url).QueueDeclarePassive(queue, false, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

// publishRaw publishes a message as another client would.
func publishRaw(t *testing.T, url, exchange, key string, msg amqp.Publishing) {
	t.Helper()
	ch := channel(t, url)
	require.NoError(t, ch.Confirm(false))
	dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key, false, false, msg)
	require.NoError(t, err)
	require.True(t, dc.Wait(), "the broker confirms the message")
}

// amqpMessage is a message with the given id, headers and body.
func amqpMessage(id string, headers map[string]any, body string) amqp.Publishing {
	return amqp.Publishing{MessageId: id, Headers: amqp.Table(headers), ContentType: "application/json", Body: []byte(body)}
}

// deadLetters waits until the group's dead-letter queue holds n messages, and returns them.
func deadLetters(t *testing.T, b *rabbitbus.Bus, n int) []rabbitbus.DeadLetter {
	t.Helper()
	var dead []rabbitbus.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dead, err = b.DeadLetters(context.Background(), 0)
		return err == nil && len(dead) == n
	}, deadline, tick, "%d dead letters", n)
	return dead
}
