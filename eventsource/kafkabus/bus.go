package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// ErrClosed is returned by Publish and Consume after Close.
var ErrClosed = errors.New("kafkabus: bus closed")

// ErrConsuming is returned by Consume while another Consume runs on the bus.
var ErrConsuming = errors.New("kafkabus: already consuming")

// Bus publishes events to a Kafka topic and consumes them in a consumer
// group, with eventsource-py 0.14's spans, metrics, headers and DLQ. It
// implements eventsource.EventPublisher, so a Repository (or an outbox relay)
// can publish through it.
type Bus struct {
	cfg      Config
	o        buswire.Telemetry
	tracer   trace.Tracer // set when a provider was given; else looked up per span
	in       *instruments
	conn     *connState
	producer *kgo.Client

	hmu      sync.RWMutex
	handlers []eventsource.EventHandler

	consuming atomic.Bool
	// finalLag is the lag read when consuming stopped, reported once (observe).
	finalLag atomic.Pointer[[]lagPoint]
	life     *buswire.Lifecycle // closed state and the running Consume
}

var _ eventsource.EventPublisher = (*Bus)(nil)

// New validates cfg, fills in its defaults and creates the producer client.
// It does not contact the brokers: the first Publish or Consume does.
func New(cfg Config, opts ...Option) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, o: buswire.NewTelemetry(opts), life: buswire.NewLifecycle(ErrClosed, ErrConsuming)}
	if b.o.Tracing && b.o.TracerProvider != nil {
		b.tracer = b.o.Tracer(TracerName)
	}
	meter := b.o.Meter(MeterName)
	b.in = newInstruments(meter)
	b.conn = &connState{in: b.in, lost: map[int32]bool{}}
	cl, err := kgo.NewClient(b.clientOpts(
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProduceRequestTimeout(cfg.ProduceTimeout),
		kgo.AllowAutoTopicCreation(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafkabus: client for %s: %w", cfg.brokerList(), err)
	}
	b.producer = cl
	_, err = meter.RegisterCallback(b.observe, b.in.connActive, b.in.lag)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafkabus: metrics: %w", err)
	}
	return b, nil
}

func (b *Bus) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(b.cfg.Brokers...),
		kgo.ClientID(b.cfg.ClientID),
		kgo.WithHooks(b.conn),
	}, extra...)
	return append(opts, b.cfg.ClientOptions...)
}

// Config returns the configuration with its defaults filled in.
func (b *Bus) Config() Config { return b.cfg }

func (b *Bus) currentTracer() trace.Tracer {
	if b.tracer != nil {
		return b.tracer
	}
	return b.o.Tracer(TracerName)
}

// Subscribe adds a handler for every consumed event. Handlers added while
// consuming get the records polled after the call.
func (b *Bus) Subscribe(h eventsource.EventHandler) {
	b.hmu.Lock()
	b.handlers = append(b.handlers, h)
	b.hmu.Unlock()
}

func (b *Bus) snapshotHandlers() []eventsource.EventHandler {
	b.hmu.RLock()
	defer b.hmu.RUnlock()
	return b.handlers
}

// Publish writes one record per event to the topic and waits until the
// brokers acknowledge all of them, or ProduceTimeout or ctx ends. The key is
// the aggregate id (events of one aggregate share a partition, in order), the
// value is EncodeEvent's JSON, the headers are eventsource-py's.
//
// Each event gets a PRODUCER span "eventsource.event_bus.publish <type>",
// child of ctx's span, ended on the broker's acknowledgement. The W3C
// traceparent/tracestate/baggage headers carry that producer span's own
// context, so the consumer's span is its child. (eventsource-py injects the
// caller's context instead, which makes its consumer a sibling of the
// producer span; a Python consumer reads either the same way.) With tracing
// off, the caller's context is injected.
//
// Any event that is not acknowledged fails the whole call with an error
// naming the brokers; the caller (a Repository's publish retry, an outbox
// relay) keeps the batch pending and publishes it again: records acknowledged
// before the failure are then delivered twice (at least once).
func (b *Bus) Publish(ctx context.Context, events []eventsource.Event) error {
	if b.life.Closed() {
		return ErrClosed
	}
	if len(events) == 0 {
		return nil
	}
	start := time.Now()
	topic := b.cfg.Topic
	records := make([]*kgo.Record, len(events))
	spans := make([]trace.Span, len(events))
	for i, e := range events {
		value, nested, err := EncodeEvent(e)
		if err != nil {
			b.in.publishErrors.Add(ctx, 1, metric.WithAttributes(publishAttrs(topic, e.Type, err)...))
			buswire.EndSpans(spans[:i], err)
			return err
		}
		sctx, span := b.startPublishSpan(ctx, topic, e)
		spans[i] = span
		r := &kgo.Record{Topic: topic, Key: []byte(e.AggregateID), Value: value, Headers: eventHeaders(e, nested)}
		b.o.Propagator.Inject(sctx, headerCarrier{r})
		records[i] = r
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ProduceTimeout)
	defer cancel()
	results := b.producer.ProduceSync(ctx, records...)
	var first error
	for i, res := range results {
		e, span := events[i], spans[i]
		if res.Err != nil {
			if first == nil {
				first = res.Err
			}
			b.in.publishErrors.Add(ctx, 1, metric.WithAttributes(publishAttrs(topic, e.Type, res.Err)...))
			buswire.FailSpan(span, res.Err)
			span.End()
			continue
		}
		b.in.published.Add(ctx, 1, metric.WithAttributes(
			attribute.String(semconv.AttrMessagingSystem, MessagingSystemKafka),
			attribute.String(semconv.AttrMessagingDestination, topic),
			attribute.String(AttrEventType, e.Type)))
		if span.IsRecording() {
			span.SetAttributes(attribute.Int(AttrKafkaPartition, int(res.Record.Partition)),
				attribute.Int64(AttrKafkaOffset, res.Record.Offset))
			span.SetStatus(codes.Ok, "")
		}
		span.End()
	}
	if first != nil {
		return fmt.Errorf("kafkabus: publish to %s: topic %s: %w", b.cfg.brokerList(), topic, first)
	}
	// eventsource-py records the duration and batch size of successful publishes only.
	b.in.publishDuration.Record(ctx, ms(time.Since(start)), metric.WithAttributes(attribute.String(semconv.AttrMessagingDestination, topic)))
	b.in.batchSize.Record(ctx, int64(len(events)))
	return nil
}

func publishAttrs(topic, eventType string, err error) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(semconv.AttrMessagingSystem, MessagingSystemKafka),
		attribute.String(semconv.AttrMessagingDestination, topic),
		attribute.String(AttrEventType, eventType),
		attribute.String(AttrErrorType, errorType(err)),
	}
}

func (b *Bus) startPublishSpan(ctx context.Context, topic string, e eventsource.Event) (context.Context, trace.Span) {
	tr := b.currentTracer()
	if tr == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tr.Start(ctx, semconv.SpanPrefixBusPublishTyped+e.Type,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String(semconv.AttrMessagingSystem, MessagingSystemKafka),
			attribute.String(semconv.AttrMessagingDestination, topic),
			attribute.String(AttrMessagingDestinationKind, DestinationKindTopic),
			attribute.String(semconv.AttrMessagingOperation, OperationPublish),
			attribute.String(semconv.AttrESEventType, e.Type),
			attribute.String(semconv.AttrESEventID, e.ID),
			attribute.String(semconv.AttrESAggregateID, e.AggregateID),
			attribute.String(semconv.AttrESAggregateType, e.AggregateType)))
}

// Close stops a running Consume (waiting for the record in progress, the
// commit and leaving the group), then closes the producer. Publish and Consume fail afterwards.
func (b *Bus) Close() error {
	if !b.life.Close() {
		return nil
	}
	// The gauges' callback stays registered: the app's last export (its meter provider's shutdown)
	// still reports the final lag and 0 active connections.
	b.producer.Close()
	b.conn.ok.Store(false)
	return nil
}

// CreateTopics creates the bus's topic and its dead-letter topic with the given partitions and replication
// factor (-1: the brokers' default), leaving either alone when it exists already. Brokers that do not
// auto-create topics need them before the first publish, and a consumer of a missing topic waits without
// an error: call it at start-up, or create the topics with your own tooling. The error names the topic.
func (b *Bus) CreateTopics(ctx context.Context, partitions int32, replicationFactor int16) error {
	topics := []string{b.cfg.Topic, b.cfg.DLQTopic}
	res, err := kadm.NewClient(b.producer).CreateTopics(ctx, partitions, replicationFactor, nil, topics...)
	if err != nil {
		return fmt.Errorf("kafkabus: creating topics %v on %s: %w", topics, b.cfg.brokerList(), err)
	}
	for _, t := range topics {
		if r, ok := res[t]; ok && r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafkabus: creating topic %q on %s: %w", t, b.cfg.brokerList(), r.Err)
		}
	}
	return nil
}
