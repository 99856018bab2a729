package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/internal/buswire"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// commitTimeout bounds the offset commits Consume makes on its way out.
const commitTimeout = 10 * time.Second

// errStopped: Consume was stopped while a record waited to be retried; the
// record is not committed and is delivered again to the group.
var errStopped = errors.New("kafkabus: stopped")

// Consume joins Config.ConsumerGroup and dispatches every record of the topic
// to the subscribed handlers until ctx ends or Close is called, then commits
// what it handled and leaves the group. It returns nil when stopped, or the
// error that stopped it (a DLQ write that failed: that record and those after
// it are not committed, so the group gets them again).
//
// Per record: a CONSUMER span "eventsource.event_bus.consume <event_type>"
// whose parent is the context in the record's traceparent/tracestate/baggage
// headers (a remote parent), and under it an INTERNAL span
// "eventsource.event_bus.dispatch <handler name>" per handler call. A handler
// that fails is called again (only the failed handlers, each attempt a new
// dispatch span) after a backoff, up to MaxRetries times; then the record
// goes to the DLQ topic with reason max_retries_exceeded. A record that cannot
// be decoded goes there at once with reason deserialization_error. Either way
// the partition moves on. Records of a partition are handled one at a time, in
// order, and their offsets are committed (autocommit is off) only once they
// are handled or dead-lettered: delivery is at least once. A record in
// progress when Consume is stopped is finished (its handlers' context is not
// canceled) and committed, unless it was waiting for a retry.
func (b *Bus) Consume(ctx context.Context) error {
	if b.cfg.ConsumerGroup == "" {
		return fmt.Errorf("%w: ConsumerGroup is empty: Consume needs a consumer group", ErrInvalidConfig)
	}
	ctx, end, err := b.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer end()

	reset := kgo.NewOffset().AtStart()
	if b.cfg.StartFromLatest {
		reset = kgo.NewOffset().AtEnd()
	}
	group := b.cfg.ConsumerGroup
	cl, err := kgo.NewClient(b.clientOpts(
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(b.cfg.Topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		// Rebalances wait for AllowRebalance, after each batch is committed:
		// a partition never moves while a record of it is being handled.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, _ map[string][]int32) {
			b.in.rebalances.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrKafkaConsumerGroup, group)))
		}),
	)...)
	if err != nil {
		return fmt.Errorf("kafkabus: consumer for %s: %w", b.cfg.brokerList(), err)
	}
	b.consuming.Store(true)
	defer func() {
		cl.AllowRebalance()
		cl.Close() // leaves the group
		// The lag as this consumer left it (its commits are done), for the next collection.
		if pts, ok := b.readLag(context.Background()); ok {
			b.finalLag.Store(&pts)
		}
		b.consuming.Store(false)
	}()

	for {
		fetches := cl.PollRecords(ctx, b.cfg.MaxPollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				b.in.connErrors.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrErrorType, errorType(err))))
			}
		})
		var stopErr error
		var handled []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) {
			if stopErr != nil || ctx.Err() != nil {
				return
			}
			if err := b.process(ctx, r); err != nil {
				stopErr = err
				return
			}
			handled = append(handled, r)
		})
		b.commit(cl, handled)
		cl.AllowRebalance()
		if errors.Is(stopErr, errStopped) {
			return nil
		}
		if stopErr != nil {
			return stopErr
		}
	}
}

// commit commits the offsets after the handled records (per partition, the
// highest); a failure is counted and those records are delivered again
// after the next rebalance (at least once).
func (b *Bus) commit(cl *kgo.Client, handled []*kgo.Record) {
	if len(handled) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := cl.CommitRecords(ctx, handled...); err != nil {
		b.in.connErrors.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrErrorType, errorType(err))))
	}
}

// process handles one record; an error means it must not be committed.
func (b *Bus) process(ctx context.Context, r *kgo.Record) error {
	start := time.Now()
	eventType := header(r, HeaderEventType)
	if eventType != "" {
		b.in.consumed.Add(ctx, 1, metric.WithAttributes(
			attribute.String(semconv.AttrMessagingSystem, MessagingSystemKafka),
			attribute.String(semconv.AttrMessagingDestination, r.Topic),
			attribute.Int(AttrKafkaPartition, int(r.Partition)),
			attribute.String(AttrEventType, eventType)))
	}
	defer func() {
		b.in.consumeDuration.Record(ctx, ms(time.Since(start)), metric.WithAttributes(attribute.String(semconv.AttrMessagingDestination, r.Topic)))
	}()
	// Handlers finish what they started when Consume is stopped.
	sctx := context.WithoutCancel(ctx)
	span := trace.SpanFromContext(context.Background())
	// Like eventsource-py, a record without an event_type header has no
	// consume span (the span is named after it); unlike it, the record goes to
	// the DLQ rather than being dropped.
	if tr := b.currentTracer(); tr != nil && eventType != "" {
		parent := b.o.Propagator.Extract(context.Background(), traceCarrier{r})
		sctx, span = tr.Start(parent, semconv.SpanPrefixBusConsumeTyped+eventType,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String(semconv.AttrMessagingSystem, MessagingSystemKafka),
				attribute.String(AttrMessagingSource, r.Topic),
				attribute.String(AttrMessagingSourceKind, DestinationKindTopic),
				attribute.String(semconv.AttrMessagingOperation, OperationReceive),
				attribute.Int(AttrKafkaPartition, int(r.Partition)),
				attribute.Int64(AttrKafkaOffset, r.Offset),
				attribute.String(AttrKafkaConsumerGroup, b.cfg.ConsumerGroup),
				attribute.String(semconv.AttrESEventType, eventType)))
		sctx = context.WithoutCancel(sctx)
	}
	defer span.End()
	retries := retryCount(r)

	e, err := DecodeEvent(r)
	if err != nil {
		buswire.FailSpan(span, err)
		return b.deadLetter(ctx, r, err, retries, ReasonDeserialization)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrESEventID, e.ID),
			attribute.String(semconv.AttrESAggregateID, e.AggregateID),
			attribute.String(semconv.AttrESAggregateType, e.AggregateType))
	}

	pending := b.snapshotHandlers()
	for {
		failures := b.dispatch(sctx, e, pending)
		if len(failures) == 0 {
			break
		}
		pending = pending[:0:0]
		for _, f := range failures {
			pending = append(pending, f.Handler)
		}
		if retries >= b.cfg.MaxRetries {
			err := buswire.HandlerError(failures)
			buswire.FailSpan(span, err)
			if span.IsRecording() {
				span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, retries))
			}
			return b.deadLetter(ctx, r, err, retries, ReasonMaxRetries)
		}
		if !buswire.Sleep(ctx, b.cfg.retry().Delay(retries)) {
			buswire.FailSpan(span, errStopped)
			return errStopped
		}
		retries++
	}
	if span.IsRecording() {
		if retries > retryCount(r) {
			span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, retries))
		}
		span.SetStatus(codes.Ok, "")
	}
	return nil
}

// dispatch calls each handler once and returns those that failed.
func (b *Bus) dispatch(ctx context.Context, e eventsource.Event, handlers []eventsource.EventHandler) []buswire.Failure {
	var failed []buswire.Failure
	for _, h := range handlers {
		name := h.HandlerName()
		hctx, span := ctx, trace.SpanFromContext(context.Background())
		if tr := b.currentTracer(); tr != nil {
			hctx, span = tr.Start(ctx, semconv.SpanPrefixBusDispatchTyped+name, trace.WithAttributes(
				attribute.String(semconv.AttrESHandlerName, name),
				attribute.String(semconv.AttrESEventType, e.Type),
				attribute.String(semconv.AttrESEventID, e.ID)))
		}
		start := time.Now()
		err := buswire.SafeHandle(hctx, h, e)
		attrs := []attribute.KeyValue{attribute.String(AttrHandlerName, name), attribute.String(AttrEventType, e.Type)}
		b.in.handlerDuration.Record(ctx, ms(time.Since(start)), metric.WithAttributes(attrs...))
		if err != nil {
			// eventsource-py counts invocations on success only, errors apart.
			b.in.handlerErrors.Add(ctx, 1, metric.WithAttributes(append(attrs, attribute.String(AttrErrorType, errorType(err)))...))
			buswire.FailSpan(span, err)
			failed = append(failed, buswire.Failure{Handler: h, Err: err})
		} else {
			b.in.invocations.Add(ctx, 1, metric.WithAttributes(attrs...))
		}
		span.End()
	}
	return failed
}

// HandlerDispatchError is the error of a record whose handlers failed, when
// more than one did (one failing handler's error is used as it is, as
// eventsource-py does). Its type names dlq_error_type.
type HandlerDispatchError = buswire.HandlerDispatchError

// deadLetter writes r to the DLQ topic with the original key, value and
// headers plus eventsource-py's dlq_* headers. An error means the record is
// not in the DLQ and must not be committed.
func (b *Bus) deadLetter(ctx context.Context, r *kgo.Record, cause error, retries int, reason string) error {
	msg := buswire.Truncate(cause.Error())
	headers := append(append([]kgo.RecordHeader(nil), r.Headers...),
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQErrorType, Value: []byte(errorType(cause))},
		kgo.RecordHeader{Key: HeaderDLQErrorMessage, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLQRetryCount, Value: []byte(strconv.Itoa(retries))},
		kgo.RecordHeader{Key: HeaderDLQTimestamp, Value: []byte(time.Now().UTC().Format(buswire.ISOTime))},
		kgo.RecordHeader{Key: HeaderDLQOriginalTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQOriginalPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOriginalOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQConsumerGroup, Value: []byte(b.cfg.ConsumerGroup)},
	)
	dl := &kgo.Record{Topic: b.cfg.DLQTopic, Key: r.Key, Value: r.Value, Headers: headers}
	// The DLQ write is finished even when Consume is being stopped.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ProduceTimeout)
	defer cancel()
	if err := b.producer.ProduceSync(pctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("kafkabus: dead-letter %s/%d@%d to %s on %s: %w", r.Topic, r.Partition, r.Offset, b.cfg.DLQTopic, b.cfg.brokerList(), err)
	}
	b.in.dlq.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrDLQReason, reason), attribute.String(AttrErrorType, errorType(cause))))
	return nil
}

// retryCount is the retry_count header eventsource-py's retry republish
// sets (0 when absent or unreadable).
func retryCount(r *kgo.Record) int {
	n, err := strconv.Atoi(header(r, HeaderRetryCount))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
