package eventsource

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// DeadLetter is an event a projection failed to apply MaxAttempts times.
type DeadLetter struct {
	ID         string
	Projection string
	Event      Event
	Error      string
	Attempts   int
	FailedAt   time.Time
	Resolved   bool
}

// ErrDeadLetterNotFound is returned for an unknown dead-letter id.
var ErrDeadLetterNotFound = errors.New("eventsource: dead letter not found")

// DeadLetterQueue holds events that could not be applied.
type DeadLetterQueue interface {
	Add(ctx context.Context, d DeadLetter) (id string, err error)
	// Get lists a projection's unresolved entries, oldest first.
	Get(ctx context.Context, projection string) ([]DeadLetter, error)
	Resolve(ctx context.Context, id string) error
	// Retry counts one more attempt on the entry and returns it.
	Retry(ctx context.Context, id string) (DeadLetter, error)
}

// InMemoryDLQ is a bounded DeadLetterQueue emitting eventsource.dlq.* spans.
// When full, the oldest entry is evicted and counted in Evicted.
type InMemoryDLQ struct {
	t       Tracing
	max     int
	mu      sync.Mutex
	seq     int64
	order   []string
	entries map[string]*DeadLetter
	evicted int64
}

// NewInMemoryDLQ returns a DLQ holding at most maxEntries (default 10000).
func NewInMemoryDLQ(maxEntries int, opts ...Option) *InMemoryDLQ {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	q := &InMemoryDLQ{max: maxEntries, entries: make(map[string]*DeadLetter)}
	q.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return q
}

// Add implements DeadLetterQueue.
func (q *InMemoryDLQ) Add(ctx context.Context, d DeadLetter) (string, error) {
	_, span := q.t.StartSpan(ctx, semconv.SpanDLQAdd,
		attribute.String(semconv.AttrESProjectionName, d.Projection),
		attribute.String(semconv.AttrESEventID, d.Event.ID),
		attribute.String(semconv.AttrESEventType, d.Event.Type),
		attribute.Int64(semconv.AttrESPosition, d.Event.Position),
		attribute.Int(semconv.AttrESRetryCount, d.Attempts))
	defer span.End()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	d.ID = strconv.FormatInt(q.seq, 10)
	d.Event = d.Event.clone()
	q.entries[d.ID] = &d
	q.order = append(q.order, d.ID)
	for len(q.order) > q.max {
		delete(q.entries, q.order[0])
		q.order = q.order[1:]
		q.evicted++
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrESDLQID, d.ID))
	}
	return d.ID, nil
}

// Get implements DeadLetterQueue.
func (q *InMemoryDLQ) Get(ctx context.Context, projection string) ([]DeadLetter, error) {
	_, span := q.t.StartSpan(ctx, semconv.SpanDLQGet, attribute.String(semconv.AttrESProjectionName, projection))
	defer span.End()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []DeadLetter
	for _, id := range q.order {
		if d := q.entries[id]; d != nil && !d.Resolved && d.Projection == projection {
			c := *d
			c.Event = d.Event.clone()
			out = append(out, c)
		}
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrESEventCount, len(out)))
	}
	return out, nil
}

// Resolve implements DeadLetterQueue.
func (q *InMemoryDLQ) Resolve(ctx context.Context, id string) error {
	_, span := q.t.StartSpan(ctx, semconv.SpanDLQResolve, attribute.String(semconv.AttrESDLQID, id))
	q.mu.Lock()
	d := q.entries[id]
	if d != nil {
		d.Resolved = true
	}
	q.mu.Unlock()
	var err error
	if d == nil {
		err = ErrDeadLetterNotFound
	}
	endSpan(span, err)
	return err
}

// Retry implements DeadLetterQueue.
func (q *InMemoryDLQ) Retry(ctx context.Context, id string) (DeadLetter, error) {
	_, span := q.t.StartSpan(ctx, semconv.SpanDLQRetry, attribute.String(semconv.AttrESDLQID, id))
	q.mu.Lock()
	d := q.entries[id]
	var out DeadLetter
	if d != nil {
		d.Attempts++
		out = *d
		out.Event = d.Event.clone()
	}
	q.mu.Unlock()
	var err error
	if d == nil {
		err = ErrDeadLetterNotFound
	} else if span.IsRecording() {
		span.SetAttributes(attribute.Int(semconv.AttrESRetryCount, out.Attempts))
	}
	endSpan(span, err)
	return out, err
}

// Len is the number of entries held (resolved ones included until evicted).
func (q *InMemoryDLQ) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// Evicted counts entries dropped because the queue was full.
func (q *InMemoryDLQ) Evicted() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.evicted
}
