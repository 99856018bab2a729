package eventsource

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Snapshot is an aggregate's serialised state at a version.
type Snapshot struct {
	AggregateID   string
	AggregateType string
	Version       int64
	State         []byte
	CreatedAt     time.Time
}

// SnapshotStore keeps the latest snapshot per aggregate.
type SnapshotStore interface {
	// SaveSnapshot stores s unless a newer version is already stored.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// GetSnapshot returns ok=false when there is none.
	GetSnapshot(ctx context.Context, aggregateID string) (s Snapshot, ok bool, err error)
	DeleteSnapshot(ctx context.Context, aggregateID string) error
	SnapshotExists(ctx context.Context, aggregateID string) (bool, error)
}

// TraceSnapshots wraps s so every call is an eventsource.snapshot.* span,
// with db.system set to dbSystem when it is not empty. Store implementations
// use it so every snapshot store has the same spans.
func TraceSnapshots(s SnapshotStore, dbSystem string, opts ...Option) SnapshotStore {
	t := &tracedSnapshots{s: s, dbSystem: dbSystem}
	t.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return t
}

type tracedSnapshots struct {
	t        Tracing
	s        SnapshotStore
	dbSystem string
}

func (t *tracedSnapshots) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, spanEnder) {
	ctx, span := t.t.StartSpan(ctx, name, attrs...)
	if t.dbSystem != "" && span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrDBSystem, t.dbSystem))
	}
	return ctx, spanEnder{span}
}

func (t *tracedSnapshots) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	ctx, span := t.start(ctx, semconv.SpanSnapshotSave,
		attribute.String(semconv.AttrESAggregateID, snap.AggregateID),
		attribute.String(semconv.AttrESAggregateType, snap.AggregateType),
		attribute.Int64(semconv.AttrESVersion, snap.Version))
	err := t.s.SaveSnapshot(ctx, snap)
	span.end(err)
	return err
}

func (t *tracedSnapshots) GetSnapshot(ctx context.Context, aggregateID string) (Snapshot, bool, error) {
	ctx, span := t.start(ctx, semconv.SpanSnapshotGet, attribute.String(semconv.AttrESAggregateID, aggregateID))
	snap, ok, err := t.s.GetSnapshot(ctx, aggregateID)
	if ok && err == nil {
		span.set(attribute.Int64(semconv.AttrESVersion, snap.Version))
	}
	span.end(err)
	return snap, ok, err
}

func (t *tracedSnapshots) DeleteSnapshot(ctx context.Context, aggregateID string) error {
	ctx, span := t.start(ctx, semconv.SpanSnapshotDelete, attribute.String(semconv.AttrESAggregateID, aggregateID))
	err := t.s.DeleteSnapshot(ctx, aggregateID)
	span.end(err)
	return err
}

func (t *tracedSnapshots) SnapshotExists(ctx context.Context, aggregateID string) (bool, error) {
	ctx, span := t.start(ctx, semconv.SpanSnapshotExists, attribute.String(semconv.AttrESAggregateID, aggregateID))
	ok, err := t.s.SnapshotExists(ctx, aggregateID)
	span.end(err)
	return ok, err
}

// InMemorySnapshotStore is a SnapshotStore in memory, emitting
// eventsource.snapshot.* spans. It holds at most one snapshot per aggregate.
type InMemorySnapshotStore struct {
	traced SnapshotStore
}

// NewInMemorySnapshotStore returns an empty snapshot store.
func NewInMemorySnapshotStore(opts ...Option) *InMemorySnapshotStore {
	return &InMemorySnapshotStore{traced: TraceSnapshots(&memSnapshots{m: make(map[string]Snapshot)}, "", opts...)}
}

// SaveSnapshot implements SnapshotStore; an older version never replaces a newer one.
func (s *InMemorySnapshotStore) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	return s.traced.SaveSnapshot(ctx, snap)
}

// GetSnapshot implements SnapshotStore.
func (s *InMemorySnapshotStore) GetSnapshot(ctx context.Context, aggregateID string) (Snapshot, bool, error) {
	return s.traced.GetSnapshot(ctx, aggregateID)
}

// DeleteSnapshot implements SnapshotStore.
func (s *InMemorySnapshotStore) DeleteSnapshot(ctx context.Context, aggregateID string) error {
	return s.traced.DeleteSnapshot(ctx, aggregateID)
}

// SnapshotExists implements SnapshotStore.
func (s *InMemorySnapshotStore) SnapshotExists(ctx context.Context, aggregateID string) (bool, error) {
	return s.traced.SnapshotExists(ctx, aggregateID)
}

type memSnapshots struct {
	mu sync.RWMutex
	m  map[string]Snapshot
}

func (s *memSnapshots) SaveSnapshot(_ context.Context, snap Snapshot) error {
	snap.State = append([]byte(nil), snap.State...)
	s.mu.Lock()
	if cur, ok := s.m[snap.AggregateID]; !ok || cur.Version <= snap.Version {
		s.m[snap.AggregateID] = snap
	}
	s.mu.Unlock()
	return nil
}

func (s *memSnapshots) GetSnapshot(_ context.Context, aggregateID string) (Snapshot, bool, error) {
	s.mu.RLock()
	snap, ok := s.m[aggregateID]
	s.mu.RUnlock()
	if ok {
		snap.State = append([]byte(nil), snap.State...)
	}
	return snap, ok, nil
}

func (s *memSnapshots) DeleteSnapshot(_ context.Context, aggregateID string) error {
	s.mu.Lock()
	delete(s.m, aggregateID)
	s.mu.Unlock()
	return nil
}

func (s *memSnapshots) SnapshotExists(_ context.Context, aggregateID string) (bool, error) {
	s.mu.RLock()
	_, ok := s.m[aggregateID]
	s.mu.RUnlock()
	return ok, nil
}
