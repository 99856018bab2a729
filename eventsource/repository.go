package eventsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

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
	publisher     EventPublisher
}

// RepositoryConfig holds a Repository's collaborators.
type RepositoryConfig[A Aggregate] struct {
	Store         EventStore
	AggregateType string
	// Factory returns a new, empty aggregate with the given id (Root.Init done).
	Factory func(id string) A
	// Snapshots is optional; Load starts from the latest snapshot when the
	// aggregate implements Snapshotter.
	Snapshots SnapshotStore
	// Publisher is optional; saved events are published to it.
	Publisher EventPublisher
}

// NewRepository returns a repository emitting eventsource.repository.* spans.
func NewRepository[A Aggregate](cfg RepositoryConfig[A], opts ...Option) (*Repository[A], error) {
	if cfg.Store == nil || cfg.Factory == nil || cfg.AggregateType == "" {
		return nil, errors.New("eventsource: RepositoryConfig needs Store, Factory and AggregateType")
	}
	r := &Repository[A]{store: cfg.Store, aggregateType: cfg.AggregateType, factory: cfg.Factory,
		snapshots: cfg.Snapshots, publisher: cfg.Publisher}
	r.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return r, nil
}

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
		snap, found, err := r.snapshots.GetSnapshot(ctx, id)
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
// version it was loaded at), publishes them, and returns the stored events.
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
	if err == nil {
		a.MarkCommitted()
		if r.publisher != nil {
			err = r.publisher.Publish(ctx, stored)
		}
	}
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESVersion, a.Version()))
	}
	endSpan(span, err)
	return stored, err
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
