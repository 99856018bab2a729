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

// TypedSnapshotStore is a SnapshotStore whose reads and deletes also name the
// aggregate type, as eventsource-py's get_snapshot, delete_snapshot and
// snapshot_exists(aggregate_id, aggregate_type) do. The type goes on the span
// as eventsource.aggregate.type; the stores key snapshots by aggregate id
// alone, so it selects nothing. The stores of TraceSnapshots and
// NewInMemorySnapshotStore implement it; GetSnapshotOfType,
// DeleteSnapshotOfType and SnapshotOfTypeExists work with any store.
type TypedSnapshotStore interface {
	SnapshotStore
	GetTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) (s Snapshot, ok bool, err error)
	DeleteTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) error
	TypedSnapshotExists(ctx context.Context, aggregateID, aggregateType string) (bool, error)
}

// GetSnapshotOfType runs s.GetTypedSnapshot when s is a TypedSnapshotStore,
// else s.GetSnapshot.
func GetSnapshotOfType(ctx context.Context, s SnapshotStore, aggregateID, aggregateType string) (Snapshot, bool, error) {
	if t, ok := s.(TypedSnapshotStore); ok {
		return t.GetTypedSnapshot(ctx, aggregateID, aggregateType)
	}
	return s.GetSnapshot(ctx, aggregateID)
}

// DeleteSnapshotOfType runs s.DeleteTypedSnapshot when s is a
// TypedSnapshotStore, else s.DeleteSnapshot.
func DeleteSnapshotOfType(ctx context.Context, s SnapshotStore, aggregateID, aggregateType string) error {
	if t, ok := s.(TypedSnapshotStore); ok {
		return t.DeleteTypedSnapshot(ctx, aggregateID, aggregateType)
	}
	return s.DeleteSnapshot(ctx, aggregateID)
}

// SnapshotOfTypeExists runs s.TypedSnapshotExists when s is a
// TypedSnapshotStore, else s.SnapshotExists.
func SnapshotOfTypeExists(ctx context.Context, s SnapshotStore, aggregateID, aggregateType string) (bool, error) {
	if t, ok := s.(TypedSnapshotStore); ok {
		return t.TypedSnapshotExists(ctx, aggregateID, aggregateType)
	}
	return s.SnapshotExists(ctx, aggregateID)
}

// TraceSnapshots wraps s so every call is an eventsource.snapshot.* span with
// the attributes of eventsource-py 0.14's snapshot stores
// (adapters/{memory,postgresql,sqlite}/snapshots.py;
// testdata/eventsource-py-0.14/spans.yaml), same keys and value types:
// eventsource.aggregate.id and eventsource.aggregate.type on every span, and
// eventsource.version on save.
//
// The aggregate type of get, delete and exists comes from the
// TypedSnapshotStore methods; GetSnapshot takes it from the snapshot found,
// and a miss, DeleteSnapshot and SnapshotExists have none to write.
// dbSystem is accepted for compatibility and not written: eventsource-py's
// snapshot spans carry no db.system (the collector classifies them by name).
// The store returned is a TypedSnapshotStore. Store implementations use it so
// every snapshot store has the same spans.
func TraceSnapshots(s SnapshotStore, dbSystem string, opts ...Option) SnapshotStore {
	return traceSnapshots(s, opts)
}

func traceSnapshots(s SnapshotStore, opts []Option) *tracedSnapshots {
	t := &tracedSnapshots{s: s}
	t.t.init(opts)
	return t
}

type tracedSnapshots struct {
	t storeSpans
	s SnapshotStore
}

var _ TypedSnapshotStore = (*tracedSnapshots)(nil)

// snapshotAttrs is the attributes a snapshot span starts with; an empty type
// is left out.
func snapshotAttrs(id, typ string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String(semconv.AttrESAggregateID, id)}
	if typ != "" {
		attrs = append(attrs, attribute.String(semconv.AttrESAggregateType, typ))
	}
	return attrs
}

func (t *tracedSnapshots) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	ctx, span := t.t.start(ctx, semconv.SpanSnapshotSave,
		attribute.String(semconv.AttrESAggregateID, snap.AggregateID),
		attribute.String(semconv.AttrESAggregateType, snap.AggregateType),
		attribute.Int64(semconv.AttrESVersion, snap.Version))
	err := t.s.SaveSnapshot(ctx, snap)
	span.end(err)
	return err
}

func (t *tracedSnapshots) GetSnapshot(ctx context.Context, aggregateID string) (Snapshot, bool, error) {
	return t.GetTypedSnapshot(ctx, aggregateID, "")
}

func (t *tracedSnapshots) GetTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) (Snapshot, bool, error) {
	ctx, span := t.t.start(ctx, semconv.SpanSnapshotGet, snapshotAttrs(aggregateID, aggregateType)...)
	snap, ok, err := GetSnapshotOfType(ctx, t.s, aggregateID, aggregateType)
	if aggregateType == "" && ok && err == nil && snap.AggregateType != "" {
		span.set(attribute.String(semconv.AttrESAggregateType, snap.AggregateType))
	}
	span.end(err)
	return snap, ok, err
}

func (t *tracedSnapshots) DeleteSnapshot(ctx context.Context, aggregateID string) error {
	return t.DeleteTypedSnapshot(ctx, aggregateID, "")
}

func (t *tracedSnapshots) DeleteTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) error {
	ctx, span := t.t.start(ctx, semconv.SpanSnapshotDelete, snapshotAttrs(aggregateID, aggregateType)...)
	err := DeleteSnapshotOfType(ctx, t.s, aggregateID, aggregateType)
	span.end(err)
	return err
}

func (t *tracedSnapshots) SnapshotExists(ctx context.Context, aggregateID string) (bool, error) {
	return t.TypedSnapshotExists(ctx, aggregateID, "")
}

func (t *tracedSnapshots) TypedSnapshotExists(ctx context.Context, aggregateID, aggregateType string) (bool, error) {
	ctx, span := t.t.start(ctx, semconv.SpanSnapshotExists, snapshotAttrs(aggregateID, aggregateType)...)
	ok, err := SnapshotOfTypeExists(ctx, t.s, aggregateID, aggregateType)
	span.end(err)
	return ok, err
}

// InMemorySnapshotStore is a SnapshotStore in memory, emitting
// eventsource.snapshot.* spans. It holds at most one snapshot per aggregate.
type InMemorySnapshotStore struct {
	traced *tracedSnapshots
}

var _ TypedSnapshotStore = (*InMemorySnapshotStore)(nil)

// NewInMemorySnapshotStore returns an empty snapshot store.
func NewInMemorySnapshotStore(opts ...Option) *InMemorySnapshotStore {
	return &InMemorySnapshotStore{traced: traceSnapshots(&memSnapshots{m: make(map[string]Snapshot)}, opts)}
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

// GetTypedSnapshot implements TypedSnapshotStore.
func (s *InMemorySnapshotStore) GetTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) (Snapshot, bool, error) {
	return s.traced.GetTypedSnapshot(ctx, aggregateID, aggregateType)
}

// DeleteTypedSnapshot implements TypedSnapshotStore.
func (s *InMemorySnapshotStore) DeleteTypedSnapshot(ctx context.Context, aggregateID, aggregateType string) error {
	return s.traced.DeleteTypedSnapshot(ctx, aggregateID, aggregateType)
}

// TypedSnapshotExists implements TypedSnapshotStore.
func (s *InMemorySnapshotStore) TypedSnapshotExists(ctx context.Context, aggregateID, aggregateType string) (bool, error) {
	return s.traced.TypedSnapshotExists(ctx, aggregateID, aggregateType)
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
