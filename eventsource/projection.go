package eventsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Projection builds a read model from events.
type Projection interface {
	Name() string
	// Apply updates the read model for one event. It is retried up to
	// MaxAttempts times, then the event is dead-lettered. Delivery is at
	// least once (a crash between Apply and the checkpoint write replays
	// the event), so Apply must be idempotent: e.g. skip an event whose
	// Version is not above the one the read model row already reflects.
	Apply(ctx context.Context, e Event) error
	// Reset empties the read model before a rebuild.
	Reset(ctx context.Context) error
}

// EventFilter is optionally implemented by a Projection to receive only some
// event types. Other events advance its checkpoint without an apply span.
type EventFilter interface {
	Handles(eventType string) bool
}

// ApplyResult describes one event applied (or dead-lettered) by a projection.
// It is what the projection.<name> span records, handed to OnApply so an
// application can keep its own ground truth.
type ApplyResult struct {
	Projection string
	Event      Event
	// Phase is semconv.PhaseLive or semconv.PhaseReplay.
	Phase string
	// LagMs is span start − event timestamp, the span's cqrs.projection.lag_ms.
	LagMs float64
	// Start and End are the projection.<name> span's timestamps.
	Start, End   time.Time
	Attempts     int
	Err          error
	DeadLettered bool
}

// ProjectionConfig holds a projection runner's collaborators.
type ProjectionConfig struct {
	Projection Projection
	// Store is read during catch-up and rebuild, and whenever a delivery
	// shows that earlier positions were not delivered.
	Store EventStore
	// Checkpoints defaults to a new InMemoryCheckpointStore, which forgets
	// the position on restart (the projection then replays everything); give
	// a durable one (sqlitestore) for a read model that survives restarts.
	Checkpoints CheckpointStore
	// DLQ is optional; without it, failed events are only reported and the
	// checkpoint moves past them. If adding to the DLQ fails, the checkpoint
	// stays before the event, so it is applied again later.
	DLQ DeadLetterQueue
	// MaxAttempts per event before it is dead-lettered (default 3).
	MaxAttempts int
	// BatchSize of catch-up reads (default 256).
	BatchSize int
	// CheckpointEvery writes the live checkpoint after this many events
	// (default 1). Catch-up writes one checkpoint per batch.
	CheckpointEvery int
	// OnApply, if set, is called after every event applied or dead-lettered.
	OnApply func(ApplyResult)
	// Now is the clock used for lag and span start times (default time.Now).
	Now func() time.Time
}

// ProjectionRunner drives a Projection: a catch-up (replay phase) from its
// checkpoint through the event store, then live events from the EventBus
// (Start subscribes the runner, an EventHandler, and catches it up). Each
// event applied is one projection.<name> span (tracer cqrs.projection),
// linked to the span that stored the event.
//
// Events are applied in global position order, each position once: a
// delivery at or below the checkpoint is skipped, and a delivery beyond
// checkpoint + 1 (events appended before the runner subscribed, a failed
// publish, another bus worker still holding earlier events) first reads the
// missing positions from the store.
type ProjectionRunner struct {
	t       Tracing
	cfg     ProjectionConfig
	name    string
	filter  EventFilter
	cps     tracedCheckpoints
	metrics *cqrsMetrics

	mu sync.Mutex
	// checkpoint is the last position applied; every position up to it was.
	checkpoint int64
	// loaded is set once a catch-up has read the stored checkpoint.
	loaded      bool
	sinceCommit int
	gapFilled   int64
}

// NewProjectionRunner validates cfg and returns a runner; Start it.
func NewProjectionRunner(cfg ProjectionConfig, opts ...Option) (*ProjectionRunner, error) {
	if cfg.Projection == nil || cfg.Store == nil {
		return nil, errors.New("eventsource: ProjectionConfig needs Projection and Store")
	}
	if cfg.Projection.Name() == "" {
		return nil, errors.New("eventsource: projection has an empty Name()")
	}
	if cfg.Checkpoints == nil {
		cfg.Checkpoints = NewInMemoryCheckpointStore()
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	o := newOptions(true, opts)
	p := &ProjectionRunner{cfg: cfg, name: cfg.Projection.Name(), metrics: newProjectionMetrics(o.mp)}
	p.t.init(semconv.ScopeProjection, o)
	p.filter, _ = cfg.Projection.(EventFilter)
	// Checkpoint spans belong to the runtime scope, like the repository's.
	rt := &Tracing{}
	rt.init(semconv.ScopeRuntime, o)
	p.cps = tracedCheckpoints{t: rt, store: cfg.Checkpoints, name: p.name}
	return p, nil
}

// HandlerName implements EventHandler.
func (p *ProjectionRunner) HandlerName() string { return p.name }

// Checkpoint is the last global position applied.
func (p *ProjectionRunner) Checkpoint() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkpoint
}

// GapFilled counts the events applied from the store because their
// delivery was missing when a later one arrived.
func (p *ProjectionRunner) GapFilled() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gapFilled
}

// EventSubscriber is a bus a runner can subscribe to (the EventBus is one).
type EventSubscriber interface {
	Subscribe(h EventHandler)
}

// Start subscribes the runner to bus, then catches it up from its checkpoint
// (replay phase) and returns how many events the catch-up read. Subscribing
// first is what makes start-up safe: events appended meanwhile are delivered,
// wait for the catch-up, and are applied once, in order. It works the same
// for a projection added while the application is running.
func (p *ProjectionRunner) Start(ctx context.Context, bus EventSubscriber) (int, error) {
	bus.Subscribe(p)
	return p.CatchUp(ctx)
}

// HandleEvent implements EventHandler: the live phase.
func (p *ProjectionRunner) HandleEvent(ctx context.Context, e Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Position == 0 {
		// Not from a store: there is no order to keep.
		_, err := p.applyOne(ctx, e, semconv.PhaseLive)
		return err
	}
	if !p.loaded {
		// Subscribed before any catch-up: catch up first, which covers e.
		if _, err := p.catchUp(ctx, false); err != nil {
			return err
		}
	}
	if e.Position <= p.checkpoint {
		return nil // applied by a catch-up, or delivered twice
	}
	if e.Position > p.checkpoint+1 {
		if err := p.fillGap(ctx, e.Position); err != nil {
			return err
		}
		if e.Position <= p.checkpoint {
			return nil
		}
	}
	return p.applyLive(ctx, e)
}

// applyLive applies one event in the live phase and moves the checkpoint,
// writing it every CheckpointEvery events.
func (p *ProjectionRunner) applyLive(ctx context.Context, e Event) error {
	settled, err := p.applyOne(ctx, e, semconv.PhaseLive)
	if !settled {
		return err
	}
	p.checkpoint = e.Position
	p.sinceCommit++
	if p.sinceCommit >= p.cfg.CheckpointEvery {
		p.sinceCommit = 0
		if cerr := p.cps.update(ctx, p.checkpoint, semconv.PhaseLive); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// fillGap applies, from the store and in the live phase, the events between
// the checkpoint and upTo (exclusive) whose delivery is missing.
func (p *ProjectionRunner) fillGap(ctx context.Context, upTo int64) error {
	for p.checkpoint < upTo-1 {
		batch, err := p.cfg.Store.ReadAll(ctx, p.checkpoint, int(min(upTo-1-p.checkpoint, int64(p.cfg.BatchSize))))
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil // the store has no more before upTo
		}
		for _, e := range batch {
			if e.Position >= upTo {
				return nil
			}
			if err := p.applyLive(ctx, e); err != nil && p.checkpoint < e.Position {
				return err // not settled: stop before it, it is read again later
			}
			p.gapFilled++
		}
	}
	return nil
}

// CatchUp applies every stored event after the checkpoint (replay phase)
// and returns how many events it read (events an EventFilter declines are
// read but not applied).
func (p *ProjectionRunner) CatchUp(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.catchUp(ctx, false)
}

// Rebuild resets the read model and the checkpoint, then replays every
// event. Live deliveries wait until it is done.
func (p *ProjectionRunner) Rebuild(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.catchUp(ctx, true)
}

func (p *ProjectionRunner) catchUp(ctx context.Context, reset bool) (n int, err error) {
	ctx, span := p.t.start(ctx, semconv.SpanProjectionReplay)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrSide, semconv.SideProjection),
			attribute.String(semconv.AttrProjectionName, p.name),
			attribute.String(semconv.AttrSubscriptionPhase, semconv.SubscriptionPhase(semconv.PhaseReplay)))
	}
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(attribute.Int(semconv.AttrESEventCount, n),
				attribute.Int64(semconv.AttrESPosition, p.checkpoint))
		}
		endSpan(span, err)
	}()
	if reset {
		if err = p.cfg.Projection.Reset(ctx); err != nil {
			return 0, fmt.Errorf("eventsource: resetting projection %s: %w", p.name, err)
		}
		if err = p.cps.reset(ctx); err != nil {
			return 0, err
		}
		p.checkpoint = 0
	} else {
		stored, gerr := p.cps.get(ctx)
		if gerr != nil {
			return 0, gerr
		}
		// The in-memory position is ahead of the stored one when live
		// checkpoints are written every CheckpointEvery events.
		p.checkpoint = max(p.checkpoint, stored)
	}
	p.loaded = true
	p.sinceCommit = 0
	for {
		batch, rerr := p.cfg.Store.ReadAll(ctx, p.checkpoint, p.cfg.BatchSize)
		if rerr != nil {
			return n, rerr
		}
		if len(batch) == 0 {
			break
		}
		from := p.checkpoint
		for _, e := range batch {
			n++
			// Failures are dead-lettered inside applyOne; replay carries on
			// unless the dead letter could not be stored.
			settled, aerr := p.applyOne(ctx, e, semconv.PhaseReplay)
			if !settled {
				err = aerr
				break
			}
			p.checkpoint = e.Position
		}
		if p.checkpoint > from {
			if cerr := p.cps.update(ctx, p.checkpoint, semconv.PhaseReplay); cerr != nil {
				return n, cerr
			}
		}
		if err != nil || len(batch) < p.cfg.BatchSize {
			return n, err
		}
	}
	return n, nil
}

// RetryDeadLetters re-applies this projection's dead letters (replay phase,
// since they are old events) and resolves those that now succeed.
func (p *ProjectionRunner) RetryDeadLetters(ctx context.Context) (resolved int, err error) {
	if p.cfg.DLQ == nil {
		return 0, nil
	}
	entries, err := p.cfg.DLQ.Get(ctx, p.name)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range entries {
		if _, err := p.cfg.DLQ.Retry(ctx, d.ID); err != nil {
			continue
		}
		if aerr := p.tryApply(ctx, d.Event); aerr == nil {
			if err := p.cfg.DLQ.Resolve(ctx, d.ID); err == nil {
				resolved++
			}
		}
	}
	return resolved, nil
}

// tryApply applies once, inside its own projection span, with no DLQ.
func (p *ProjectionRunner) tryApply(ctx context.Context, e Event) error {
	ctx, span, _, _ := p.startApply(ctx, e, semconv.PhaseReplay)
	err := p.safeApply(ctx, e)
	p.endApply(span, 1, err, false)
	return err
}

func (p *ProjectionRunner) startApply(ctx context.Context, e Event, phase string) (context.Context, trace.Span, float64, time.Time) {
	now := p.cfg.Now()
	lag := float64(now.Sub(e.Timestamp)) / float64(time.Millisecond)
	tr := p.t.current()
	if tr == nil {
		return ctx, noopSpan, lag, now
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(now)}
	if sc := e.TraceContext(); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, span := tr.Start(ctx, semconv.SpanPrefixProjection+p.name, opts...)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String(semconv.AttrSide, semconv.SideProjection),
			attribute.String(semconv.AttrProjectionName, p.name),
			attribute.String(semconv.AttrEventType, e.Type),
			attribute.String(semconv.AttrEventAggregateID, e.AggregateID),
			attribute.String(semconv.AttrESEventID, e.ID),
			attribute.Int64(semconv.AttrESPosition, e.Position),
			attribute.Int64(semconv.AttrESEventTimestamp, e.Timestamp.UnixMilli()),
			attribute.Float64(semconv.AttrProjectionLagMs, lag),
			attribute.String(semconv.AttrSubscriptionPhase, semconv.SubscriptionPhase(phase)))
	}
	return ctx, span, lag, now
}

// endApply ends the apply span and returns its end time.
func (p *ProjectionRunner) endApply(span trace.Span, attempts int, err error, deadLettered bool) time.Time {
	if span.IsRecording() {
		status := semconv.ProjectionStatusApplied
		switch {
		case deadLettered:
			status = semconv.ProjectionStatusDeadLettered
		case err != nil:
			status = semconv.ProjectionStatusFailed
		}
		span.SetAttributes(attribute.String(semconv.AttrProjectionStatus, status))
		if attempts > 1 {
			span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, attempts-1))
		}
	}
	if err != nil {
		recordError(span, err)
	}
	end := p.cfg.Now()
	span.End(trace.WithTimestamp(end))
	return end
}

// applyOne applies e with retries, dead-letters it after MaxAttempts, and
// reports the result. It returns whether the event is settled and the last
// error (nil once applied). Settled means applied, declined by the EventFilter,
// dead-lettered, or failed with no DLQ to keep it. An unsettled event (the
// DLQ refused it) must not move the checkpoint.
func (p *ProjectionRunner) applyOne(ctx context.Context, e Event, phase string) (settled bool, err error) {
	if p.filter != nil && !p.filter.Handles(e.Type) {
		return true, nil
	}
	actx, span, lag, start := p.startApply(ctx, e, phase)
	attempts := 0
	for attempts < p.cfg.MaxAttempts {
		attempts++
		if err = p.safeApply(actx, e); err == nil {
			break
		}
		if span.IsRecording() {
			span.AddEvent(semconv.EventApplyFailed, trace.WithAttributes(
				attribute.Int(semconv.AttrESRetryCount, attempts),
				attribute.String(semconv.AttrESErrorType, ErrorType(err))))
		}
	}
	dead := false
	settled = true
	if err != nil && p.cfg.DLQ != nil {
		_, derr := p.cfg.DLQ.Add(actx, DeadLetter{Projection: p.name, Event: e, Error: err.Error(),
			Attempts: attempts, FailedAt: p.cfg.Now()})
		dead, settled = derr == nil, derr == nil
		if derr != nil {
			err = fmt.Errorf("eventsource: projection %s: dead-lettering position %d: %w (apply failed: %w)", p.name, e.Position, derr, err)
		}
	}
	end := p.endApply(span, attempts, err, dead)
	if p.metrics != nil && phase == semconv.PhaseLive {
		// Live only: replay lag is not lag, and the collector keeps it apart
		// too. Failed applies count: the lag is recorded before applying.
		p.metrics.projectionLag.Record(ctx, lag, metric.WithAttributes(
			attribute.String(semconv.MetricAttrProjectionName, p.name),
			attribute.String(semconv.MetricAttrEventType, e.Type)))
	}
	if p.cfg.OnApply != nil {
		p.cfg.OnApply(ApplyResult{Projection: p.name, Event: e, Phase: phase, LagMs: lag,
			Start: start, End: end, Attempts: attempts, Err: err, DeadLettered: dead})
	}
	return settled, err
}

// safeApply counts a panicking Apply as a failed attempt.
func (p *ProjectionRunner) safeApply(ctx context.Context, e Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: projection %s: %v", ErrHandlerPanic, p.name, r)
		}
	}()
	return p.cfg.Projection.Apply(ctx, e)
}
