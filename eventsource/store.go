package eventsource

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// AnyVersion as expectedVersion skips the optimistic-concurrency check.
const AnyVersion int64 = -1

// EventStore persists events per aggregate stream and in one global order.
type EventStore interface {
	// AppendEvents appends events to one aggregate's stream if the stream is
	// at expectedVersion (0 for a new stream, AnyVersion to skip the check).
	// It assigns versions (when zero) and global positions, injects the
	// current trace context into each event's metadata, and returns the
	// stored events. A version mismatch returns a *ConcurrencyError.
	AppendEvents(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []Event) ([]Event, error)
	// GetEvents returns a stream's events with Version > fromVersion.
	GetEvents(ctx context.Context, aggregateID string, fromVersion int64) ([]Event, error)
	// ReadAll returns up to limit events with Position > fromPosition, in
	// position order (catch-up subscriptions use it).
	ReadAll(ctx context.Context, fromPosition int64, limit int) ([]Event, error)
	// HeadPosition is the newest global position (0 when empty).
	HeadPosition(ctx context.Context) (int64, error)
}

// ErrConcurrencyConflict matches every *ConcurrencyError with errors.Is.
var ErrConcurrencyConflict = errors.New("eventsource: concurrency conflict")

// ErrAggregateNotFound is returned by Repository.Load for an empty stream.
var ErrAggregateNotFound = errors.New("eventsource: aggregate not found")

// ConcurrencyError reports an optimistic-concurrency conflict on append.
type ConcurrencyError struct {
	AggregateID string
	Expected    int64
	Actual      int64
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("eventsource: concurrency conflict on aggregate %s: expected version %d, stream is at %d (reload the aggregate and retry the command)",
		e.AggregateID, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConcurrencyConflict) true.
func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrencyConflict }

// PrepareAppend validates an append against the stream's current version and
// returns copies of events with aggregate id/type and versions filled in and
// trace context injected. Store implementations share it so they agree on
// every rule; positions are left for the store to assign.
func PrepareAppend(ctx context.Context, aggregateID, aggregateType string, expectedVersion, currentVersion int64, events []Event) ([]Event, error) {
	if aggregateID == "" {
		return nil, errors.New("eventsource: append: empty aggregate id")
	}
	if len(events) == 0 {
		return nil, errors.New("eventsource: append: no events")
	}
	if expectedVersion != AnyVersion && expectedVersion != currentVersion {
		return nil, &ConcurrencyError{AggregateID: aggregateID, Expected: expectedVersion, Actual: currentVersion}
	}
	out := cloneEvents(events)
	for i := range out {
		e := &out[i]
		if e.AggregateID == "" {
			e.AggregateID = aggregateID
		}
		if e.AggregateID != aggregateID {
			return nil, fmt.Errorf("eventsource: append: event %d belongs to aggregate %q, not %q", i, e.AggregateID, aggregateID)
		}
		if e.AggregateType == "" {
			e.AggregateType = aggregateType
		}
		want := currentVersion + int64(i) + 1
		if e.Version == 0 {
			e.Version = want
		}
		if e.Version != want {
			// A stale aggregate raised events on an old version.
			return nil, &ConcurrencyError{AggregateID: aggregateID, Expected: e.Version - int64(i) - 1, Actual: currentVersion}
		}
		if e.ID == "" {
			e.ID = NewEventID()
		}
		if e.Type == "" {
			return nil, fmt.Errorf("eventsource: append: event %d has no type", i)
		}
		InjectTraceContext(ctx, e)
	}
	return out, nil
}

// StoreInstrumentation emits the <store>_event_store.* spans. Store
// implementations outside this package (the SQLite store) use it so every
// store's spans have the same shape.
type StoreInstrumentation struct {
	t         Tracing
	kind      trace.SpanKind
	dbSystem  string
	dbName    string
	appendN   string
	getN      string
	readAllN  string
	storeName string
}

// NewStoreInstrumentation returns the instrumentation for a store named
// storeName (e.g. semconv.EventStoreSQLite); dbSystem may be empty.
func NewStoreInstrumentation(storeName, dbSystem string, kind trace.SpanKind, opts ...Option) *StoreInstrumentation {
	s := &StoreInstrumentation{
		kind:      kind,
		dbSystem:  dbSystem,
		storeName: storeName,
		appendN:   storeName + semconv.SpanSuffixAppendEvents,
		getN:      storeName + semconv.SpanSuffixGetEvents,
		readAllN:  storeName + semconv.SpanSuffixReadAll,
	}
	s.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return s
}

// SetDBName adds db.name=name to every span (the PostgreSQL store sets the
// database's name). Call it once, before the store is used.
func (s *StoreInstrumentation) SetDBName(name string) { s.dbName = name }

func (s *StoreInstrumentation) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := s.t.start(ctx, name, trace.WithSpanKind(s.kind))
	if span.IsRecording() {
		if s.dbSystem != "" {
			span.SetAttributes(attribute.String(semconv.AttrDBSystem, s.dbSystem))
		}
		if s.dbName != "" {
			span.SetAttributes(attribute.String(semconv.AttrDBName, s.dbName))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// StartAppend starts an append_events span.
func (s *StoreInstrumentation) StartAppend(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, n int) (context.Context, trace.Span) {
	if !s.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return s.startSpan(ctx, s.appendN,
		attribute.String(semconv.AttrESAggregateID, aggregateID),
		attribute.String(semconv.AttrESAggregateType, aggregateType),
		attribute.Int64(semconv.AttrESExpectedVersion, expectedVersion),
		attribute.Int(semconv.AttrESEventCount, n))
}

// EndAppend records the outcome: the newest global position appended and the
// stream's new version, or the error.
func (s *StoreInstrumentation) EndAppend(span trace.Span, stored []Event, err error) {
	if span.IsRecording() && err == nil && len(stored) > 0 {
		last := stored[len(stored)-1]
		span.SetAttributes(
			attribute.Int64(semconv.AttrESPosition, last.Position),
			attribute.Int64(semconv.AttrESVersion, last.Version),
			attribute.Int(semconv.AttrESEventCount, len(stored)))
	}
	endSpan(span, err)
}

// StartGet starts a get_events span.
func (s *StoreInstrumentation) StartGet(ctx context.Context, aggregateID string, fromVersion int64) (context.Context, trace.Span) {
	if !s.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return s.startSpan(ctx, s.getN,
		attribute.String(semconv.AttrESAggregateID, aggregateID),
		attribute.Int64(semconv.AttrESFromVersion, fromVersion))
}

// EndGet records how many events were read.
func (s *StoreInstrumentation) EndGet(span trace.Span, events []Event, err error) {
	if span.IsRecording() && err == nil {
		span.SetAttributes(attribute.Int(semconv.AttrESEventCount, len(events)))
		if len(events) > 0 {
			span.SetAttributes(attribute.Int64(semconv.AttrESVersion, events[len(events)-1].Version))
		}
	}
	endSpan(span, err)
}

// StartReadAll starts a read_all span.
func (s *StoreInstrumentation) StartReadAll(ctx context.Context, fromPosition int64, limit int) (context.Context, trace.Span) {
	if !s.t.TracingEnabled() {
		return ctx, noopSpan
	}
	return s.startSpan(ctx, s.readAllN,
		attribute.Int64(semconv.AttrESPosition, fromPosition),
		attribute.Int(semconv.AttrESBatchSize, limit))
}

// EndReadAll records how many events were read.
func (s *StoreInstrumentation) EndReadAll(span trace.Span, events []Event, err error) {
	if span.IsRecording() && err == nil {
		span.SetAttributes(attribute.Int(semconv.AttrESEventCount, len(events)))
	}
	endSpan(span, err)
}
