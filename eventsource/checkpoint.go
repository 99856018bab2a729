package eventsource

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// CheckpointStore remembers, per projection, the global position up to which
// events have been applied.
type CheckpointStore interface {
	// GetCheckpoint returns 0 for an unknown projection.
	GetCheckpoint(ctx context.Context, projection string) (int64, error)
	UpdateCheckpoint(ctx context.Context, projection string, position int64) error
	ResetCheckpoint(ctx context.Context, projection string) error
}

// InMemoryCheckpointStore is a CheckpointStore in memory. Spans are emitted
// by the projection runner that uses it, so every store implementation gets
// the same eventsource.checkpoint.* spans.
type InMemoryCheckpointStore struct {
	mu sync.RWMutex
	m  map[string]int64
}

// NewInMemoryCheckpointStore returns an empty checkpoint store.
func NewInMemoryCheckpointStore() *InMemoryCheckpointStore {
	return &InMemoryCheckpointStore{m: make(map[string]int64)}
}

// GetCheckpoint implements CheckpointStore.
func (s *InMemoryCheckpointStore) GetCheckpoint(_ context.Context, projection string) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[projection], nil
}

// UpdateCheckpoint implements CheckpointStore.
func (s *InMemoryCheckpointStore) UpdateCheckpoint(_ context.Context, projection string, position int64) error {
	s.mu.Lock()
	s.m[projection] = position
	s.mu.Unlock()
	return nil
}

// ResetCheckpoint implements CheckpointStore.
func (s *InMemoryCheckpointStore) ResetCheckpoint(_ context.Context, projection string) error {
	s.mu.Lock()
	delete(s.m, projection)
	s.mu.Unlock()
	return nil
}

// tracedCheckpoints emits eventsource.checkpoint.* spans around any store.
type tracedCheckpoints struct {
	t     *Tracing
	store CheckpointStore
	name  string
}

func (c tracedCheckpoints) span(ctx context.Context, name, phase string, pos int64) (context.Context, trace.Span) {
	ctx, span := c.t.start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrESProjectionName, c.name))
		if pos >= 0 {
			span.SetAttributes(attribute.Int64(semconv.AttrESPosition, pos))
		}
		if phase != "" {
			span.SetAttributes(attribute.String(semconv.AttrSubscriptionPhase, semconv.SubscriptionPhase(phase)))
		}
	}
	return ctx, span
}

func (c tracedCheckpoints) get(ctx context.Context) (int64, error) {
	ctx, span := c.span(ctx, semconv.SpanCheckpointGet, "", -1)
	pos, err := c.store.GetCheckpoint(ctx, c.name)
	if err == nil && span.IsRecording() {
		span.SetAttributes(attribute.Int64(semconv.AttrESPosition, pos))
	}
	endSpan(span, err)
	return pos, err
}

func (c tracedCheckpoints) update(ctx context.Context, pos int64, phase string) error {
	ctx, span := c.span(ctx, semconv.SpanCheckpointUpdate, phase, pos)
	err := c.store.UpdateCheckpoint(ctx, c.name, pos)
	endSpan(span, err)
	return err
}

func (c tracedCheckpoints) reset(ctx context.Context) error {
	ctx, span := c.span(ctx, semconv.SpanCheckpointReset, semconv.PhaseReplay, 0)
	err := c.store.ResetCheckpoint(ctx, c.name)
	endSpan(span, err)
	return err
}
