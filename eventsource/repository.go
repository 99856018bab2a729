package eventsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// EventPublisher receives events after they are stored (the EventBus does).
type EventPublisher interface {
	Publish(ctx context.Context, events []Event) error
}

// Repository loads and saves one aggregate type.
type Repository[A Aggregate] struct {
	t             Tracing
	store         EventStore
	aggregateType string
	factory       func(id string) A
	snapshots     SnapshotStore
	publish       *publishQueue // nil without a Publisher
}

// RepositoryConfig holds a Repository's collaborators.
type RepositoryConfig[A Aggregate] struct {
	Store EventStore
	// Factory returns a new, empty aggregate with the given id (Root.Init
	// done). The aggregate type is the one Root.Init gives: NewRepository
	// reads it from Factory("").
	Factory func(id string) A
	// Snapshots is optional; Load starts from the latest snapshot when the
	// aggregate implements Snapshotter.
	Snapshots SnapshotStore
	// Publisher is optional; saved events are published to it. It must be
	// nil when Store has a transactional outbox (an OutboxStore whose
	// Outbox is not nil): Save then publishes nothing itself, since the
	// events' outbox rows are written in the append's transaction, and an
	// OutboxRelay publishes them; give the publisher to the relay. A failed
	// publish does not fail Save (the events are stored): it is counted
	// (PublishStats), recorded as a publish_failed event on the save span,
	// reported to OnPublishError, and published again before the next
	// save's events or by RetryPublish.
	Publisher EventPublisher
	// OnPublishError, if set, is called for every failed publish attempt.
	OnPublishError func(*PublishError)
	// MaxUnpublished bounds the batches waiting to be published again
	// (default 1024); beyond it the oldest is dropped and counted.
	MaxUnpublished int
}

// NewRepository returns a repository emitting eventsource.repository.* spans.
func NewRepository[A Aggregate](cfg RepositoryConfig[A], opts ...Option) (*Repository[A], error) {
	if cfg.Store == nil || cfg.Factory == nil {
		return nil, errors.New("eventsource: RepositoryConfig needs Store and Factory")
	}
	typ, err := factoryType(cfg.Factory)
	if err != nil {
		return nil, err
	}
	r := &Repository[A]{store: cfg.Store, aggregateType: typ, factory: cfg.Factory, snapshots: cfg.Snapshots}
	if storeOutbox(cfg.Store) != nil && cfg.Publisher != nil {
		return nil, errors.New("eventsource: RepositoryConfig.Publisher is set but Store has a transactional outbox: " +
			"leave Publisher nil and give it to an OutboxRelay on the store's Outbox")
	}
	if cfg.Publisher != nil {
		if cfg.MaxUnpublished <= 0 {
			cfg.MaxUnpublished = 1024
		}
		r.publish = &publishQueue{publisher: cfg.Publisher, onError: cfg.OnPublishError, max: cfg.MaxUnpublished}
	}
	r.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return r, nil
}

// factoryType is the aggregate type Factory's aggregates report.
func factoryType[A Aggregate](factory func(string) A) (typ string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("eventsource: RepositoryConfig.Factory(\"\") panicked: %v", r)
		}
	}()
	if typ = factory("").AggregateType(); typ == "" {
		return "", errors.New("eventsource: Factory's aggregates have no type: call Root.Init(id, aggregateType, apply) in the factory")
	}
	return typ, nil
}

// AggregateType is the type of the aggregates this repository stores.
func (r *Repository[A]) AggregateType() string { return r.aggregateType }

func (r *Repository[A]) attrs(id string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(semconv.AttrESAggregateID, id),
		attribute.String(semconv.AttrESAggregateType, r.aggregateType),
	}
}

// New returns a fresh aggregate (not yet stored).
func (r *Repository[A]) New(id string) A { return r.factory(id) }

// Load rebuilds an aggregate from its snapshot (if any) and events. It
// returns ErrAggregateNotFound when the aggregate has no events.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, error) {
	ctx, span := r.t.StartSpan(ctx, semconv.SpanRepositoryLoad, r.attrs(id)...)
	a, err := r.load(ctx, id)
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESVersion, a.Version()))
	}
	endSpan(span, err)
	return a, err
}

func (r *Repository[A]) load(ctx context.Context, id string) (A, error) {
	a := r.factory(id)
	var from int64
	if snapper, ok := any(a).(Snapshotter); ok && r.snapshots != nil {
		snap, found, err := GetSnapshotOfType(ctx, r.snapshots, id, r.aggregateType) // the span names the type on a miss too
		if err != nil {
			return a, err
		}
		if found {
			if err := snapper.RestoreSnapshot(snap.State, snap.Version); err != nil {
				return a, fmt.Errorf("eventsource: restoring snapshot of %s: %w", id, err)
			}
			from = snap.Version
		}
	}
	events, err := r.store.GetEvents(ctx, id, from)
	if err != nil {
		return a, err
	}
	if from == 0 && len(events) == 0 {
		return a, fmt.Errorf("%w: %s %s", ErrAggregateNotFound, r.aggregateType, id)
	}
	return a, a.LoadFromHistory(events)
}

// Save appends the aggregate's pending events (optimistic concurrency on the
// version it was loaded at) and returns the stored events. Once they are
// stored Save succeeds: publishing them is reported separately (see
// RepositoryConfig.Publisher). With a store that has a transactional outbox,
// the events' outbox rows are stored with them, in the same transaction, and
// Save publishes nothing: an OutboxRelay does. Inside a command registered
// with Register, the stored events count as produced by that command.
func (r *Repository[A]) Save(ctx context.Context, a A) ([]Event, error) {
	pending := a.PendingEvents()
	ctx, span := r.t.StartSpan(ctx, semconv.SpanRepositorySave, r.attrs(a.AggregateID())...)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrESEventCount, len(pending)))
	}
	if len(pending) == 0 {
		endSpan(span, nil)
		return nil, nil
	}
	expected := a.Version() - int64(len(pending))
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESExpectedVersion, expected))
	}
	stored, err := r.store.AppendEvents(ctx, a.AggregateID(), r.aggregateType, expected, pending)
	if err != nil {
		endSpan(span, err)
		return nil, err
	}
	a.MarkCommitted()
	recordProduced(ctx, stored)
	if r.publish != nil {
		r.publish.publish(ctx, span, stored)
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESVersion, a.Version()))
	}
	span.End()
	return stored, nil
}

// RetryPublish publishes the stored events whose publishing failed, oldest
// first, until one fails again; it returns how many batches it published.
// Save does this on its own before publishing new events; call it from a
// ticker when saves are rare.
func (r *Repository[A]) RetryPublish(ctx context.Context) int {
	if r.publish == nil {
		return 0
	}
	return r.publish.retry(ctx, trace.SpanFromContext(ctx))
}

// PublishStats counts failed, retried, pending and dropped publishes.
func (r *Repository[A]) PublishStats() PublishStats {
	if r.publish == nil {
		return PublishStats{}
	}
	return r.publish.stats()
}

// Exists reports whether the aggregate has any events.
func (r *Repository[A]) Exists(ctx context.Context, id string) (bool, error) {
	ctx, span := r.t.StartSpan(ctx, semconv.SpanRepositoryExists, r.attrs(id)...)
	events, err := r.store.GetEvents(ctx, id, 0)
	endSpan(span, err)
	return len(events) > 0, err
}

// CreateSnapshot stores the aggregate's current state. The aggregate must
// implement Snapshotter and have no pending events.
func (r *Repository[A]) CreateSnapshot(ctx context.Context, a A) error {
	ctx, span := r.t.StartSpan(ctx, semconv.SpanRepositorySnapshot, r.attrs(a.AggregateID())...)
	err := r.createSnapshot(ctx, a)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESVersion, a.Version()))
	}
	endSpan(span, err)
	return err
}

func (r *Repository[A]) createSnapshot(ctx context.Context, a A) error {
	snapper, ok := any(a).(Snapshotter)
	switch {
	case r.snapshots == nil:
		return errors.New("eventsource: repository has no snapshot store")
	case !ok:
		return fmt.Errorf("eventsource: %s does not implement Snapshotter", r.aggregateType)
	case len(a.PendingEvents()) > 0:
		return errors.New("eventsource: save the aggregate before snapshotting it")
	}
	state, err := snapper.SnapshotState()
	if err != nil {
		return err
	}
	return r.snapshots.SaveSnapshot(ctx, Snapshot{AggregateID: a.AggregateID(), AggregateType: r.aggregateType,
		Version: a.Version(), State: state, CreatedAt: time.Now()})
}
