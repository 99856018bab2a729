package kafkabus

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Instrumentation scopes, as eventsource-py 0.14 names them: the tracer is
// the bus module's __name__, the meter is pinned in adapters/kafka/bus.py.
const (
	TracerName = "eventsource.adapters.kafka.bus"
	MeterName  = "eventsource.bus.kafka"
)

// Metric names, units and descriptions of eventsource-py 0.14
// (adapters/kafka/metrics.py; testdata/eventsource-py-0.14/metrics.yaml).
const (
	MetricMessagesPublished  = "kafka.eventbus.messages.published"
	MetricMessagesConsumed   = "kafka.eventbus.messages.consumed"
	MetricHandlerInvocations = "kafka.eventbus.handler.invocations"
	MetricHandlerErrors      = "kafka.eventbus.handler.errors"
	MetricMessagesDLQ        = "kafka.eventbus.messages.dlq"
	MetricConnectionErrors   = "kafka.eventbus.connection.errors"
	MetricReconnections      = "kafka.eventbus.reconnections"
	MetricRebalances         = "kafka.eventbus.rebalances"
	MetricPublishErrors      = "kafka.eventbus.publish.errors"
	MetricPublishDuration    = "kafka.eventbus.publish.duration"
	MetricConsumeDuration    = "kafka.eventbus.consume.duration"
	MetricHandlerDuration    = "kafka.eventbus.handler.duration"
	MetricBatchSize          = "kafka.eventbus.batch.size"
	MetricConnectionsActive  = "kafka.eventbus.connections.active"
	MetricConsumerLag        = "kafka.eventbus.consumer.lag"
)

// Span and metric attribute keys eventsource-py's Kafka bus uses outside its
// ATTR_* table (the ATTR_* ones come from eventsource/semconv).
const (
	AttrMessagingDestinationKind = "messaging.destination_kind"
	AttrMessagingSource          = "messaging.source"
	AttrMessagingSourceKind      = "messaging.source_kind"
	AttrKafkaPartition           = "messaging.kafka.partition"
	AttrKafkaOffset              = "messaging.kafka.offset"
	AttrKafkaConsumerGroup       = "messaging.kafka.consumer_group"
	AttrEventType                = "event.type"
	AttrHandlerName              = "handler.name"
	AttrDLQReason                = "dlq.reason"
	AttrErrorType                = "error.type"
)

// Values.
const (
	MessagingSystemKafka   = "kafka"
	DestinationKindTopic   = "topic"
	OperationPublish       = "publish"
	OperationReceive       = "receive"
	ReasonMaxRetries       = "max_retries_exceeded"
	ReasonDeserialization  = "deserialization_error"
	lagObservationsTimeout = 5 * time.Second
)

type instruments struct {
	published, consumed, invocations, handlerErrors, dlq metric.Int64Counter
	connErrors, reconnections, rebalances, publishErrors metric.Int64Counter
	publishDuration, consumeDuration, handlerDuration    metric.Float64Histogram
	batchSize                                            metric.Int64Histogram
	connActive, lag                                      metric.Int64ObservableGauge
}

// Instrument errors can only come from invalid names, which are constants:
// the API returns a no-op instrument alongside the error, so it is ignored.
func newInstruments(m metric.Meter) *instruments {
	var in instruments
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, _ := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		return c
	}
	hist := func(name, desc, unit string) metric.Float64Histogram {
		h, _ := m.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit(unit))
		return h
	}
	in.published = counter(MetricMessagesPublished, "Total messages published to Kafka", "messages")
	in.consumed = counter(MetricMessagesConsumed, "Total messages consumed from Kafka", "messages")
	in.invocations = counter(MetricHandlerInvocations, "Total handler invocations", "invocations")
	in.handlerErrors = counter(MetricHandlerErrors, "Total handler errors", "errors")
	in.dlq = counter(MetricMessagesDLQ, "Total messages sent to dead letter queue", "messages")
	in.connErrors = counter(MetricConnectionErrors, "Total connection errors", "errors")
	in.reconnections = counter(MetricReconnections, "Total reconnection attempts", "reconnections")
	in.rebalances = counter(MetricRebalances, "Total consumer rebalances", "rebalances")
	in.publishErrors = counter(MetricPublishErrors, "Total publish errors", "errors")
	in.publishDuration = hist(MetricPublishDuration, "Time to publish messages to Kafka", "ms")
	in.consumeDuration = hist(MetricConsumeDuration, "Time to process consumed messages", "ms")
	in.handlerDuration = hist(MetricHandlerDuration, "Handler execution time", "ms")
	in.batchSize, _ = m.Int64Histogram(MetricBatchSize, metric.WithDescription("Publish batch size"), metric.WithUnit("messages"))
	in.connActive, _ = m.Int64ObservableGauge(MetricConnectionsActive,
		metric.WithDescription("Connection status (1=connected, 0=disconnected)"), metric.WithUnit("connections"))
	in.lag, _ = m.Int64ObservableGauge(MetricConsumerLag,
		metric.WithDescription("Consumer lag per partition (messages behind)"), metric.WithUnit("messages"))
	return &in
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// observe is the callback of both observable gauges.
func (b *Bus) observe(ctx context.Context, o metric.Observer) error {
	var up int64
	if b.conn.active() && !b.life.Closed() {
		up = 1
	}
	o.ObserveInt64(b.in.connActive, up, metric.WithAttributes(attribute.String(AttrKafkaConsumerGroup, b.cfg.ConsumerGroup)))
	if b.consuming.Load() {
		if pts, ok := b.readLag(ctx); ok {
			b.observeLag(o, pts)
		}
	} else if final := b.finalLag.Swap(nil); final != nil {
		// Once, after consuming stopped: the lag as the consumer left it, so what a collector keeps
		// showing after the app stops reporting is that, not the last reading taken mid-batch.
		b.observeLag(o, *final)
	}
	return nil
}

// lagPoint is one partition's consumer lag.
type lagPoint struct {
	topic     string
	partition int32
	lag       int64
}

// readLag reads, per partition of the topic, the end offset minus the group's committed offset (the
// start offset when the group has committed nothing there), as eventsource-py labels it. Committed, not
// consumed: a record being handled still counts as lag until its offset is committed. Not ok when the
// offsets cannot be read (the callback never fails the collection).
func (b *Bus) readLag(ctx context.Context) ([]lagPoint, bool) {
	ctx, cancel := context.WithTimeout(ctx, lagObservationsTimeout)
	defer cancel()
	adm := kadm.NewClient(b.producer)
	ends, err := adm.ListEndOffsets(ctx, b.cfg.Topic)
	if err != nil || ends.Error() != nil {
		return nil, false
	}
	starts, err := adm.ListStartOffsets(ctx, b.cfg.Topic)
	if err != nil || starts.Error() != nil {
		return nil, false
	}
	committed, err := adm.FetchOffsets(ctx, b.cfg.ConsumerGroup)
	if err != nil {
		return nil, false
	}
	var pts []lagPoint
	ends.Each(func(end kadm.ListedOffset) {
		from := int64(-1)
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil {
			from = c.At
		}
		if from < 0 {
			s, ok := starts.Lookup(end.Topic, end.Partition)
			if !ok {
				return
			}
			from = s.Offset
		}
		pts = append(pts, lagPoint{topic: end.Topic, partition: end.Partition, lag: max(0, end.Offset-from)})
	})
	return pts, true
}

func (b *Bus) observeLag(o metric.Observer, pts []lagPoint) {
	for _, p := range pts {
		o.ObserveInt64(b.in.lag, p.lag, metric.WithAttributes(
			attribute.Int(AttrKafkaPartition, int(p.partition)),
			attribute.String(AttrKafkaConsumerGroup, b.cfg.ConsumerGroup),
			attribute.String(semconv.AttrMessagingDestination, p.topic)))
	}
}

// connState tracks broker connections through franz-go's hooks: connection
// errors, reconnections (a successful connect to a broker after an attempt to
// reach it failed) and whether the last connect attempt succeeded. A
// disconnect alone is no loss: franz-go keeps several connections per broker
// (produce, fetch, group), drops the seed connection once it knows the
// cluster and reaps idle ones, and connects again when it needs one.
type connState struct {
	in   *instruments
	ok   atomic.Bool
	mu   sync.Mutex
	lost map[int32]bool // broker node id -> failed to connect since its last connect
}

var _ kgo.HookBrokerConnect = (*connState)(nil)

func (c *connState) active() bool { return c.ok.Load() }

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (c *connState) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		c.ok.Store(false)
		c.in.connErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String(AttrErrorType, errorType(err))))
		c.mu.Lock()
		if len(c.lost) < maxTrackedBrokers {
			c.lost[meta.NodeID] = true
		}
		c.mu.Unlock()
		return
	}
	c.ok.Store(true)
	c.mu.Lock()
	again := c.lost[meta.NodeID]
	delete(c.lost, meta.NodeID)
	c.mu.Unlock()
	if again {
		c.in.reconnections.Add(context.Background(), 1)
	}
}

// maxTrackedBrokers bounds connState.lost (seed and cluster node ids).
const maxTrackedBrokers = 4096
