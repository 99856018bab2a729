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
	// Add stores an entry and returns its id. An unresolved entry for the
	// same projection and event id is updated instead (attempts added, error
	// and time replaced) and keeps its id: a redelivered poison event is one
	// dead letter, not two.
	Add(ctx context.Context, d DeadLetter) (id string, err error)
	// Get lists a projection's unresolved entries, oldest first.
	Get(ctx context.Context, projection string) ([]DeadLetter, error)
	Resolve(ctx context.Context, id string) error
	// Retry counts one more attempt on the entry and returns it.
	Retry(ctx context.Context, id string) (DeadLetter, error)
}

// TraceDeadLetters wraps q so every call is an eventsource.dlq.* span, with
// db.system set to dbSystem when it is not empty. Store implementations use
// it so every DLQ has the same spans.
func TraceDeadLetters(q DeadLetterQueue, dbSystem string, opts ...Option) DeadLetterQueue {
	t := &tracedDLQ{q: q, dbSystem: dbSystem}
	t.t.init(semconv.ScopeRuntime, newOptions(true, opts))
	return t
}

type tracedDLQ struct {
	t        Tracing
	q        DeadLetterQueue
	dbSystem string
}

func (d *tracedDLQ) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, spanEnder) {
	ctx, span := d.t.StartSpan(ctx, name, attrs...)
	if d.dbSystem != "" && span.IsRecording() {
		span.SetAttributes(attribute.String(semconv.AttrDBSystem, d.dbSystem))
	}
	return ctx, spanEnder{span}
}

func (d *tracedDLQ) Add(ctx context.Context, dl DeadLetter) (string, error) {
	ctx, span := d.start(ctx, semconv.SpanDLQAdd,
		attribute.String(semconv.AttrESProjectionName, dl.Projection),
		attribute.String(semconv.AttrESEventID, dl.Event.ID),
		attribute.String(semconv.AttrESEventType, dl.Event.Type),
		attribute.Int64(semconv.AttrESPosition, dl.Event.Position),
		attribute.Int(semconv.AttrESRetryCount, dl.Attempts))
	id, err := d.q.Add(ctx, dl)
	if err == nil {
		span.set(attribute.String(semconv.AttrESDLQID, id))
	}
	span.end(err)
	return id, err
}

func (d *tracedDLQ) Get(ctx context.Context, projection string) ([]DeadLetter, error) {
	ctx, span := d.start(ctx, semconv.SpanDLQGet, attribute.String(semconv.AttrESProjectionName, projection))
	out, err := d.q.Get(ctx, projection)
	if err == nil {
		span.set(attribute.Int(semconv.AttrESEventCount, len(out)))
	}
	span.end(err)
	return out, err
}

func (d *tracedDLQ) Resolve(ctx context.Context, id string) error {
	ctx, span := d.start(ctx, semconv.SpanDLQResolve, attribute.String(semconv.AttrESDLQID, id))
	err := d.q.Resolve(ctx, id)
	span.end(err)
	return err
}

func (d *tracedDLQ) Retry(ctx context.Context, id string) (DeadLetter, error) {
	ctx, span := d.start(ctx, semconv.SpanDLQRetry, attribute.String(semconv.AttrESDLQID, id))
	out, err := d.q.Retry(ctx, id)
	if err == nil {
		span.set(attribute.Int(semconv.AttrESRetryCount, out.Attempts))
	}
	span.end(err)
	return out, err
}

// InMemoryDLQ is a bounded DeadLetterQueue emitting eventsource.dlq.* spans.
// When full, the oldest entry is evicted and counted in Evicted. Its entries
// are lost on restart; sqlitestore keeps them in the database.
type InMemoryDLQ struct {
	traced DeadLetterQueue
	mem    *memDLQ
}

// NewInMemoryDLQ returns a DLQ holding at most maxEntries (default 10000).
func NewInMemoryDLQ(maxEntries int, opts ...Option) *InMemoryDLQ {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	mem := &memDLQ{max: maxEntries, entries: make(map[string]*DeadLetter), open: make(map[string]string)}
	return &InMemoryDLQ{traced: TraceDeadLetters(mem, "", opts...), mem: mem}
}

// Add implements DeadLetterQueue.
func (q *InMemoryDLQ) Add(ctx context.Context, d DeadLetter) (string, error) {
	return q.traced.Add(ctx, d)
}

// Get implements DeadLetterQueue.
func (q *InMemoryDLQ) Get(ctx context.Context, projection string) ([]DeadLetter, error) {
	return q.traced.Get(ctx, projection)
}

// Resolve implements DeadLetterQueue.
func (q *InMemoryDLQ) Resolve(ctx context.Context, id string) error { return q.traced.Resolve(ctx, id) }

// Retry implements DeadLetterQueue.
func (q *InMemoryDLQ) Retry(ctx context.Context, id string) (DeadLetter, error) {
	return q.traced.Retry(ctx, id)
}

// Len is the number of entries held (resolved ones included until evicted).
func (q *InMemoryDLQ) Len() int {
	q.mem.mu.Lock()
	defer q.mem.mu.Unlock()
	return len(q.mem.order)
}

// Evicted counts entries dropped because the queue was full.
func (q *InMemoryDLQ) Evicted() int64 {
	q.mem.mu.Lock()
	defer q.mem.mu.Unlock()
	return q.mem.evicted
}

type memDLQ struct {
	max     int
	mu      sync.Mutex
	seq     int64
	order   []string
	entries map[string]*DeadLetter
	open    map[string]string // projection + "\x00" + event id -> id of its unresolved entry
	evicted int64
}

func openKey(projection, eventID string) string { return projection + "\x00" + eventID }

func (q *memDLQ) Add(_ context.Context, d DeadLetter) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := openKey(d.Projection, d.Event.ID)
	if id, ok := q.open[key]; ok {
		cur := q.entries[id]
		cur.Attempts += d.Attempts
		cur.Error, cur.FailedAt = d.Error, d.FailedAt
		return id, nil
	}
	q.seq++
	d.ID = strconv.FormatInt(q.seq, 10)
	d.Event = d.Event.clone()
	d.Resolved = false
	q.entries[d.ID] = &d
	q.open[key] = d.ID
	q.order = append(q.order, d.ID)
	for len(q.order) > q.max {
		old := q.entries[q.order[0]]
		if k := openKey(old.Projection, old.Event.ID); q.open[k] == old.ID {
			delete(q.open, k)
		}
		delete(q.entries, old.ID)
		q.order = q.order[1:]
		q.evicted++
	}
	return d.ID, nil
}

func (q *memDLQ) Get(_ context.Context, projection string) ([]DeadLetter, error) {
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
	return out, nil
}

func (q *memDLQ) Resolve(_ context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.entries[id]
	if d == nil {
		return ErrDeadLetterNotFound
	}
	d.Resolved = true
	if k := openKey(d.Projection, d.Event.ID); q.open[k] == id {
		delete(q.open, k)
	}
	return nil
}

func (q *memDLQ) Retry(_ context.Context, id string) (DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.entries[id]
	if d == nil {
		return DeadLetter{}, ErrDeadLetterNotFound
	}
	d.Attempts++
	out := *d
	out.Event = d.Event.clone()
	return out, nil
}
