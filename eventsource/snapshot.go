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
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// GetSnapshot returns ok=false when there is none.
	GetSnapshot(ctx context.Context, aggregateID string) (s Snapshot, ok bool, err error)
	DeleteSnapshot(ctx context.Context, aggregateID string) error
	SnapshotExists(ctx context.Context, aggregateID string) (bool, error)
}

// InMemorySnapshotStore is a SnapshotStore in memory, emitting
// eventsource.snapshot.* spans. It holds at most one snapshot per aggregate.
type InMemorySnapshotStore struct {
	t  Tracing
	mu sync.RWMutex
	m  map[string]Snapshot
}

// NewInMemorySnapshotStore returns an empty snapshot store.
func NewInMemorySnapshotStore(opts ...Option) *InMemorySnapshotStore {
	s := &InMemorySnapshotStore{m: make(map[string]Snapshot)}
	s.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return s
}

// SaveSnapshot implements SnapshotStore; an older version never replaces a newer one.
func (s *InMemorySnapshotStore) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	_, span := s.t.StartSpan(ctx, semconv.SpanSnapshotSave,
		attribute.String(semconv.AttrESAggregateID, snap.AggregateID),
		attribute.String(semconv.AttrESAggregateType, snap.AggregateType),
		attribute.Int64(semconv.AttrESVersion, snap.Version))
	defer span.End()
	snap.State = append([]byte(nil), snap.State...)
	s.mu.Lock()
	if cur, ok := s.m[snap.AggregateID]; !ok || cur.Version <= snap.Version {
		s.m[snap.AggregateID] = snap
	}
	s.mu.Unlock()
	return nil
}

// GetSnapshot implements SnapshotStore.
func (s *InMemorySnapshotStore) GetSnapshot(ctx context.Context, aggregateID string) (Snapshot, bool, error) {
	_, span := s.t.StartSpan(ctx, semconv.SpanSnapshotGet, attribute.String(semconv.AttrESAggregateID, aggregateID))
	defer span.End()
	s.mu.RLock()
	snap, ok := s.m[aggregateID]
	s.mu.RUnlock()
	if ok {
		snap.State = append([]byte(nil), snap.State...)
		if span.IsRecording() {
			span.SetAttributes(attribute.Int64(semconv.AttrESVersion, snap.Version))
		}
	}
	return snap, ok, nil
}

// DeleteSnapshot implements SnapshotStore.
func (s *InMemorySnapshotStore) DeleteSnapshot(ctx context.Context, aggregateID string) error {
	_, span := s.t.StartSpan(ctx, semconv.SpanSnapshotDelete, attribute.String(semconv.AttrESAggregateID, aggregateID))
	defer span.End()
	s.mu.Lock()
	delete(s.m, aggregateID)
	s.mu.Unlock()
	return nil
}

// SnapshotExists implements SnapshotStore.
func (s *InMemorySnapshotStore) SnapshotExists(ctx context.Context, aggregateID string) (bool, error) {
	_, span := s.t.StartSpan(ctx, semconv.SpanSnapshotExists, attribute.String(semconv.AttrESAggregateID, aggregateID))
	defer span.End()
	s.mu.RLock()
	_, ok := s.m[aggregateID]
	s.mu.RUnlock()
	return ok, nil
}
