package eventsource

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// InMemoryEventStore is an EventStore held in memory; safe for concurrent use.
type InMemoryEventStore struct {
	instr   *StoreInstrumentation
	mu      sync.RWMutex
	log     []Event          // index i holds position i+1
	streams map[string][]int // aggregate id -> indexes into log
}

// NewInMemoryEventStore returns an empty store. Spans are named
// in_memory_event_store.*.
func NewInMemoryEventStore(opts ...Option) *InMemoryEventStore {
	return &InMemoryEventStore{
		instr:   NewStoreInstrumentation(semconv.EventStoreInMemory, "", trace.SpanKindInternal, opts...),
		streams: make(map[string][]int),
	}
}

// AppendEvents implements EventStore.
func (s *InMemoryEventStore) AppendEvents(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []Event) ([]Event, error) {
	ctx, span := s.instr.StartAppend(ctx, aggregateID, aggregateType, expectedVersion, len(events))
	stored, err := s.append(ctx, aggregateID, aggregateType, expectedVersion, events)
	s.instr.EndAppend(span, stored, err)
	return stored, err
}

func (s *InMemoryEventStore) append(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []Event) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stream := s.streams[aggregateID]
	var current int64
	if n := len(stream); n > 0 {
		current = s.log[stream[n-1]].Version
	}
	prepared, err := PrepareAppend(ctx, aggregateID, aggregateType, expectedVersion, current, events)
	if err != nil {
		return nil, err
	}
	for i := range prepared {
		prepared[i].Position = int64(len(s.log)) + 1
		s.streams[aggregateID] = append(s.streams[aggregateID], len(s.log))
		s.log = append(s.log, prepared[i])
	}
	// The log keeps its own copies; callers get independent ones.
	return cloneEvents(prepared), nil
}

// GetEvents implements EventStore.
func (s *InMemoryEventStore) GetEvents(ctx context.Context, aggregateID string, fromVersion int64) ([]Event, error) {
	_, span := s.instr.StartGet(ctx, aggregateID, fromVersion)
	s.mu.RLock()
	var out []Event
	for _, idx := range s.streams[aggregateID] {
		if e := s.log[idx]; e.Version > fromVersion {
			out = append(out, e.clone())
		}
	}
	s.mu.RUnlock()
	s.instr.EndGet(span, out, nil)
	return out, nil
}

// ReadAll implements EventStore.
func (s *InMemoryEventStore) ReadAll(ctx context.Context, fromPosition int64, limit int) ([]Event, error) {
	_, span := s.instr.StartReadAll(ctx, fromPosition, limit)
	s.mu.RLock()
	var out []Event
	if fromPosition < 0 {
		fromPosition = 0
	}
	for i := fromPosition; i < int64(len(s.log)) && (limit <= 0 || len(out) < limit); i++ {
		out = append(out, s.log[i].clone())
	}
	s.mu.RUnlock()
	s.instr.EndReadAll(span, out, nil)
	return out, nil
}

// HeadPosition implements EventStore.
func (s *InMemoryEventStore) HeadPosition(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.log)), nil
}
