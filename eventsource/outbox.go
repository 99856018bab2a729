package eventsource

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// The transactional outbox. A store with an outbox (sqlitestore and pgstore
// opened with Config{Outbox: true}) writes, in the transaction that appends
// events, one outbox row per event: either both are stored or neither is. A
// Repository on such a store publishes nothing itself; an OutboxRelay reads
// the pending rows in order, publishes them, and marks them published only
// once the publisher accepted them. A crash between the append and the
// publish loses nothing: the rows are still pending when the relay starts
// again. Delivery is at least once (a crash after a publish and before its
// mark publishes that batch again), so handlers must tolerate duplicates
// (events keep their ID and Position).

// OutboxEntry is a stored event waiting in an outbox.
type OutboxEntry struct {
	// ID orders the entries: the order their events were appended in.
	ID    int64
	Event Event
	// Attempts counts the failed attempts to publish the entry.
	Attempts  int
	LastError string
}

// Outbox is the relay's side of a transactional outbox.
type Outbox interface {
	// GetPending returns up to limit pending entries, lowest ID first.
	GetPending(ctx context.Context, limit int) ([]OutboxEntry, error)
	// MarkPublished marks entries published, in one transaction; they are
	// not returned again.
	MarkPublished(ctx context.Context, ids []int64) error
	// IncrementRetry records a failed attempt to publish an entry, which
	// stays pending.
	IncrementRetry(ctx context.Context, id int64, publishErr string) error
	// MarkFailed gives up on a pending entry after a failed attempt: it
	// keeps the error and the attempt, and GetPending no longer returns it
	// (OutboxDeadLetters lists and requeues such entries).
	MarkFailed(ctx context.Context, id int64, publishErr string) error
}

// OutboxDeadLetters lists the entries an outbox gave up on and puts them
// back in line (sqlstore.Outbox is one).
type OutboxDeadLetters interface {
	// Failed returns up to limit failed entries, lowest ID first, with their
	// attempts and last error.
	Failed(ctx context.Context, limit int) ([]OutboxEntry, error)
	// Requeue makes failed entries pending again, at their place in the
	// order (their ID), with no attempt counted; it returns how many it
	// requeued (ids not failed are skipped).
	Requeue(ctx context.Context, ids []int64) (int64, error)
}

// OutboxStats is what an outbox holds.
type OutboxStats struct {
	Pending, Failed, Published int64
	// OldestPending is when the oldest pending entry was written (zero: none
	// pending).
	OldestPending time.Time
}

// OutboxStatter counts an outbox's entries (sqlstore.Outbox is one).
type OutboxStatter interface {
	Stats(ctx context.Context) (OutboxStats, error)
}

// OutboxStore is an EventStore that can write an outbox row per appended
// event in the append's own transaction.
type OutboxStore interface {
	EventStore
	// Outbox is the store's outbox, nil when the store writes none.
	Outbox() Outbox
}

// storeOutbox returns the store's outbox, nil when it has none.
func storeOutbox(s EventStore) Outbox {
	if os, ok := s.(OutboxStore); ok {
		return os.Outbox()
	}
	return nil
}

// OutboxInstrumentation emits eventsource-py's eventsource.outbox.* spans
// (INTERNAL) with db.system. Outbox implementations outside this package
// (sqlstore's) use it so every outbox has the same spans.
type OutboxInstrumentation struct {
	t        Tracing
	dbSystem string
}

// NewOutboxInstrumentation returns the instrumentation of an outbox in a
// database of system dbSystem (e.g. semconv.DBSystemSQLite).
func NewOutboxInstrumentation(dbSystem string, opts ...Option) *OutboxInstrumentation {
	o := &OutboxInstrumentation{dbSystem: dbSystem}
	o.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return o
}

func (o *OutboxInstrumentation) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := o.t.StartSpan(ctx, name, attrs...)
	if o.dbSystem != "" && span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrDBSystem, o.dbSystem))
	}
	return ctx, span
}

// StartAdd starts the eventsource.outbox.add span of one event's row.
func (o *OutboxInstrumentation) StartAdd(ctx context.Context, e Event) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return o.start(ctx, semconv.SpanOutboxAdd,
		attribute.String(semconv.AttrESEventID, e.ID),
		attribute.String(semconv.AttrESEventType, e.Type),
		attribute.String(semconv.AttrESAggregateID, e.AggregateID),
		attribute.String(semconv.AttrESAggregateType, e.AggregateType))
}

// StartGetPending starts an eventsource.outbox.get_pending span.
func (o *OutboxInstrumentation) StartGetPending(ctx context.Context, limit int) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return o.start(ctx, semconv.SpanOutboxGetPending, attribute.Int(semconv.AttrLimit, limit))
}

// EndGetPending records how many entries were read.
func (o *OutboxInstrumentation) EndGetPending(span trace.Span, n int, err error) {
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrESEventCount, n))
	}
	endSpan(span, err)
}

// StartMarkPublished starts the eventsource.outbox.mark_published span of
// one entry.
func (o *OutboxInstrumentation) StartMarkPublished(ctx context.Context, id int64) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return o.start(ctx, semconv.SpanOutboxMarkPublished, attribute.String(semconv.AttrOutboxID, strconv.FormatInt(id, 10)))
}

// StartIncrementRetry starts an eventsource.outbox.increment_retry span.
func (o *OutboxInstrumentation) StartIncrementRetry(ctx context.Context, id int64, publishErr string) (context.Context, trace.Span) {
	return o.startFailure(ctx, semconv.SpanOutboxIncrementRetry, id, publishErr)
}

// startFailure starts the span of a failed publish of an entry; the error
// attribute is cut to 100 characters, like eventsource-py's.
func (o *OutboxInstrumentation) startFailure(ctx context.Context, name string, id int64, publishErr string) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	if len(publishErr) > 100 {
		publishErr = publishErr[:100]
	}
	return o.start(ctx, name,
		attribute.String(semconv.AttrOutboxID, strconv.FormatInt(id, 10)),
		attribute.String(semconv.AttrError, publishErr))
}

// StartMarkFailed starts an eventsource.outbox.mark_failed span.
func (o *OutboxInstrumentation) StartMarkFailed(ctx context.Context, id int64, publishErr string) (context.Context, trace.Span) {
	return o.startFailure(ctx, semconv.SpanOutboxMarkFailed, id, publishErr)
}

// StartGetStats starts an eventsource.outbox.get_stats span.
func (o *OutboxInstrumentation) StartGetStats(ctx context.Context) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return o.start(ctx, semconv.SpanOutboxGetStats)
}

// StartCleanup starts an eventsource.outbox.cleanup span.
func (o *OutboxInstrumentation) StartCleanup(ctx context.Context, olderThanDays int) (context.Context, trace.Span) {
	if !o.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return o.start(ctx, semconv.SpanOutboxCleanup, attribute.Int(semconv.AttrOlderThanDays, olderThanDays))
}

// EndCleanup records how many entries were deleted.
func (o *OutboxInstrumentation) EndCleanup(span trace.Span, deleted int64, err error) {
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrDeletedCount, deleted))
	}
	endSpan(span, err)
}

// End ends a span started by this instrumentation, recording err.
func (o *OutboxInstrumentation) End(span trace.Span, err error) { endSpan(span, err) }

// OutboxRelayConfig configures an OutboxRelay.
type OutboxRelayConfig struct {
	Outbox    Outbox
	Publisher EventPublisher
	// BatchSize bounds the entries read and published at once (default 100).
	BatchSize int
	// PollInterval is how long Start's loop waits when the outbox is empty
	// or after an error (default 100ms).
	PollInterval time.Duration
	// OnError, if set, is called for every failed publish (a *PublishError)
	// and every failed outbox read or write.
	OnError func(error)
	// MaxAttempts, when > 0, gives up on an entry that failed this many
	// publishes (MarkFailed): it leaves the line with its error kept, and the
	// entries behind it go on. 0 (the default) never gives up: an entry that
	// cannot be published holds every later one back, so nothing is ever
	// delivered out of order. After a failed batch the relay publishes one
	// entry at a time until one goes through, so only an entry that fails on
	// its own is given up. Attempts count every failed publish, whatever the
	// cause: during a broker outage the entry at the head gives up after
	// MaxAttempts passes (PollInterval apart), so size it for the outages to
	// ride out.
	MaxAttempts int
	// MeterProvider, when set and the outbox is an OutboxStatter (sqlstore's
	// is), reports the outbox's state as gauges read at each collection:
	// eventsource.outbox.pending and eventsource.outbox.failed (entries) and
	// eventsource.outbox.oldest_pending_age (s), until Stop.
	MeterProvider metric.MeterProvider
}

// OutboxRelayStats counts a relay's work.
type OutboxRelayStats struct {
	// Published counts entries published and marked.
	Published int64
	// Failed counts failed publishes of a batch; its entries stay pending.
	Failed int64
	// Errors counts failed outbox reads and writes.
	Errors int64
	// GaveUp counts entries marked failed after MaxAttempts.
	GaveUp int64
}

// OutboxRelay publishes an outbox's pending entries, in order, to an
// EventPublisher, and marks them published once Publish returned nil. A
// failed publish leaves the batch pending (each entry's retry count goes up)
// to be published again, whole, on the next pass: nothing is dropped, and
// later entries wait behind it so one aggregate's events keep their order.
// Run one relay per outbox: more are safe but publish more duplicates.
type OutboxRelay struct {
	cfg    OutboxRelayConfig
	mu     sync.Mutex // one pass at a time
	start  sync.Once
	cancel context.CancelFunc // cancels a started relay's context
	stop   chan struct{}
	done   chan struct{}
	halt   sync.Once

	published, failed, errs, gaveUp atomic.Int64
	// alone: the last batch failed, so entries go one at a time until one is
	// published (MaxAttempts > 0): only the one that fails is given up.
	alone  bool
	gauges metric.Registration // nil: no MeterProvider
}

// NewOutboxRelay returns a relay; call Start, or RelayOnce yourself. The
// relay's spans are the outbox's (eventsource.outbox.*) and the publisher's.
func NewOutboxRelay(cfg OutboxRelayConfig) (*OutboxRelay, error) {
	if cfg.Outbox == nil || cfg.Publisher == nil {
		return nil, errors.New("eventsource: OutboxRelayConfig needs Outbox and Publisher")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	r := &OutboxRelay{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	if st, ok := cfg.Outbox.(OutboxStatter); ok && cfg.MeterProvider != nil {
		var err error
		if r.gauges, err = registerOutboxGauges(cfg.MeterProvider, st); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func registerOutboxGauges(mp metric.MeterProvider, st OutboxStatter) (metric.Registration, error) {
	m := mp.Meter(semconv.ScopeRuntime)
	pending, err1 := m.Int64ObservableGauge(semconv.MetricOutboxPending,
		metric.WithDescription("Outbox entries waiting to be published"), metric.WithUnit("{entry}"))
	failed, err2 := m.Int64ObservableGauge(semconv.MetricOutboxFailed,
		metric.WithDescription("Outbox entries given up after MaxAttempts, until requeued"), metric.WithUnit("{entry}"))
	age, err3 := m.Float64ObservableGauge(semconv.MetricOutboxOldestPendingAge,
		metric.WithDescription("Age of the oldest pending outbox entry (0: none pending)"), metric.WithUnit("s"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := st.Stats(ctx)
		if err != nil {
			return err // the SDK reports it; nothing is observed this time
		}
		o.ObserveInt64(pending, s.Pending)
		o.ObserveInt64(failed, s.Failed)
		var a float64
		if !s.OldestPending.IsZero() {
			a = max(time.Since(s.OldestPending).Seconds(), 0)
		}
		o.ObserveFloat64(age, a)
		return nil
	}, pending, failed, age)
}

// RelayOnce publishes one batch of pending entries and returns how many it
// published; 0 with a nil error means the outbox is empty.
func (r *OutboxRelay) RelayOnce(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	limit := r.cfg.BatchSize
	if r.alone {
		limit = 1
	}
	entries, err := r.cfg.Outbox.GetPending(ctx, limit)
	if err != nil {
		return 0, r.outboxError(err)
	}
	if len(entries) == 0 {
		return 0, nil
	}
	events := make([]Event, len(entries))
	ids := make([]int64, len(entries))
	for i, e := range entries {
		events[i], ids[i] = e.Event, e.ID
	}
	if err := r.cfg.Publisher.Publish(ctx, events); err != nil {
		r.failed.Add(1)
		var errs []error
		giveUp := r.cfg.MaxAttempts > 0 && len(entries) == 1 && entries[0].Attempts+1 >= r.cfg.MaxAttempts
		for _, e := range entries {
			record := r.cfg.Outbox.IncrementRetry
			if giveUp {
				record = r.cfg.Outbox.MarkFailed
			}
			if rerr := record(ctx, e.ID, err.Error()); rerr != nil {
				errs = append(errs, r.outboxError(rerr))
			} else if giveUp {
				r.gaveUp.Add(1)
			}
		}
		r.alone = r.cfg.MaxAttempts > 0
		perr := &PublishError{Events: events, Attempts: entries[0].Attempts + 1, Err: err}
		if r.cfg.OnError != nil {
			r.cfg.OnError(perr)
		}
		return 0, errors.Join(append([]error{perr}, errs...)...)
	}
	if err := r.cfg.Outbox.MarkPublished(ctx, ids); err != nil {
		// Published but not marked: published again on the next pass.
		return 0, r.outboxError(err)
	}
	r.published.Add(int64(len(entries)))
	r.alone = false
	return len(entries), nil
}

func (r *OutboxRelay) outboxError(err error) error {
	r.errs.Add(1)
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
	return err
}

// Start runs the relay in a goroutine until ctx is done or Stop is called:
// full batches are relayed back to back, and it waits PollInterval when the
// outbox is empty or a pass failed. Only the first call starts it.
func (r *OutboxRelay) Start(ctx context.Context) {
	r.start.Do(func() {
		ctx, r.cancel = context.WithCancel(ctx)
		go func() {
			defer close(r.done)
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-r.stop:
					return
				case <-timer.C:
				}
				n, err := r.RelayOnce(ctx)
				wait := r.cfg.PollInterval
				if err == nil && n == r.cfg.BatchSize {
					wait = 0 // more may be pending
				}
				timer.Reset(wait)
			}
		}()
	})
}

// Stop stops a started relay: it cancels the context of the pass in
// progress (a publisher that honours it returns; its batch stays pending)
// and waits for the pass to end. What is still pending stays in the outbox
// for the next relay: Drain publishes it now. It also stops the gauges
// (MeterProvider). It is safe to call more than once, and without Start.
func (r *OutboxRelay) Stop() {
	r.halt.Do(func() {
		close(r.stop)
		if r.gauges != nil {
			_ = r.gauges.Unregister()
		}
	})
	r.start.Do(func() { close(r.done) }) // never started: nothing to wait for
	if r.cancel != nil {                 // set by Start's Do, which happened before ours
		r.cancel()
	}
	<-r.done
}

// Drain publishes every pending entry now, batch after batch, until the
// outbox is empty, ctx ends or a publish fails, and returns how many it
// published. Call it after Stop at shutdown, while the publisher is still
// open, so what the relay's loop had not reached leaves with this process
// instead of waiting for the next one; on an error the rest stays pending.
func (r *OutboxRelay) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.RelayOnce(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// Stats returns the relay's counters.
func (r *OutboxRelay) Stats() OutboxRelayStats {
	return OutboxRelayStats{Published: r.published.Load(), Failed: r.failed.Load(), Errors: r.errs.Load(), GaveUp: r.gaveUp.Load()}
}
