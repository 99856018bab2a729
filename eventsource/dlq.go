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

// DeadLetterQuery selects dead letters, as eventsource-py's
// get_failed_events(projection_name, status, limit) does. Only unresolved
// entries are listed (eventsource-py's default status, "failed").
type DeadLetterQuery struct {
	// Projection whose entries are listed.
	Projection string
	// Limit caps how many entries are returned, the oldest first; 0 or less
	// returns them all.
	Limit int
}

// DeadLetterAdmin is a DeadLetterQueue that also takes what eventsource-py's
// DLQ calls pass beyond DeadLetterQueue: a limit on a listing, and who
// resolved an entry. The queues of TraceDeadLetters and NewInMemoryDLQ
// implement it; QueryDeadLetters and ResolveDeadLetter work with any queue.
type DeadLetterAdmin interface {
	DeadLetterQueue
	// Query lists a projection's unresolved entries, oldest first.
	Query(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// ResolveBy is Resolve naming who resolved the entry. The name goes on
	// the eventsource.dlq.resolve span as resolved_by; the stores keep no
	// resolver.
	ResolveBy(ctx context.Context, id, resolvedBy string) error
}

// QueryDeadLetters runs q.Query when q is a DeadLetterAdmin, else q.Get cut
// to query.Limit.
func QueryDeadLetters(ctx context.Context, q DeadLetterQueue, query DeadLetterQuery) ([]DeadLetter, error) {
	if a, ok := q.(DeadLetterAdmin); ok {
		return a.Query(ctx, query)
	}
	out, err := q.Get(ctx, query.Projection)
	return limitDeadLetters(out, query.Limit), err
}

// ResolveDeadLetter runs q.ResolveBy when q is a DeadLetterAdmin, else
// q.Resolve.
func ResolveDeadLetter(ctx context.Context, q DeadLetterQueue, id, resolvedBy string) error {
	if a, ok := q.(DeadLetterAdmin); ok {
		return a.ResolveBy(ctx, id, resolvedBy)
	}
	return q.Resolve(ctx, id)
}

func limitDeadLetters(d []DeadLetter, limit int) []DeadLetter {
	if limit > 0 && len(d) > limit {
		return d[:limit]
	}
	return d
}

// TraceDeadLetters wraps q so every call is an eventsource.dlq.* span with
// the attributes of eventsource-py 0.14's DLQ spans (adapters/sql/dlq.py,
// adapters/memory/dlq.py; testdata/eventsource-py-0.14/spans.yaml), same keys
// and value types:
//
//	eventsource.dlq.add      eventsource.event.id, eventsource.event.type, eventsource.projection.name,
//	                         eventsource.error.type (the error text cut to 100 characters, as
//	                         eventsource-py writes it), eventsource.retry.count
//	eventsource.dlq.get      limit (DLQLimitNone, -1, when unbounded), status_filter ("failed"),
//	                         eventsource.projection.name
//	eventsource.dlq.resolve  dlq.id, resolved_by (only when named, through ResolveBy)
//	eventsource.dlq.retry    dlq.id
//
// db.system is written only when dbSystem is semconv.DBSystemMemory
// ("memory"), as eventsource-py's in-memory DLQ does; its SQL DLQ writes none,
// so "postgresql" and "sqlite" are accepted and not written. (The collector
// classifies these spans by name; nothing in it reads their db.system.)
// The queue returned is a DeadLetterAdmin. Store implementations use it so
// every DLQ has the same spans.
func TraceDeadLetters(q DeadLetterQueue, dbSystem string, opts ...Option) DeadLetterQueue {
	return traceDeadLetters(q, dbSystem, opts)
}

func traceDeadLetters(q DeadLetterQueue, dbSystem string, opts []Option) *tracedDLQ {
	t := &tracedDLQ{q: q}
	if dbSystem == semconv.DBSystemMemory {
		t.s.init(opts, attribute.String(semconv.AttrDBSystem, dbSystem))
	} else {
		t.s.init(opts)
	}
	return t
}

type tracedDLQ struct {
	s storeSpans
	q DeadLetterQueue
}

var _ DeadLetterAdmin = (*tracedDLQ)(nil)

func (d *tracedDLQ) Add(ctx context.Context, dl DeadLetter) (string, error) {
	ctx, span := d.s.start(ctx, semconv.SpanDLQAdd,
		attribute.String(semconv.AttrESEventID, dl.Event.ID),
		attribute.String(semconv.AttrESEventType, dl.Event.Type),
		attribute.String(semconv.AttrESProjectionName, dl.Projection),
		attribute.String(semconv.AttrESErrorType, cutRunes(dl.Error, 100)),
		attribute.Int(semconv.AttrESRetryCount, dl.Attempts))
	id, err := d.q.Add(ctx, dl)
	span.end(err)
	return id, err
}

func (d *tracedDLQ) Get(ctx context.Context, projection string) ([]DeadLetter, error) {
	return d.Query(ctx, DeadLetterQuery{Projection: projection})
}

func (d *tracedDLQ) Query(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = semconv.DLQLimitNone
	}
	attrs := []attribute.KeyValue{attribute.Int(semconv.AttrLimit, limit),
		attribute.String(semconv.AttrStatusFilter, semconv.DLQStatusFailed)}
	if q.Projection != "" {
		attrs = append(attrs, attribute.String(semconv.AttrESProjectionName, q.Projection))
	}
	ctx, span := d.s.start(ctx, semconv.SpanDLQGet, attrs...)
	out, err := QueryDeadLetters(ctx, d.q, q)
	span.end(err)
	return out, err
}

func (d *tracedDLQ) Resolve(ctx context.Context, id string) error { return d.ResolveBy(ctx, id, "") }

func (d *tracedDLQ) ResolveBy(ctx context.Context, id, resolvedBy string) error {
	attrs := []attribute.KeyValue{attribute.String(semconv.AttrDLQID, id)}
	if resolvedBy != "" {
		attrs = append(attrs, attribute.String(semconv.AttrResolvedBy, resolvedBy))
	}
	ctx, span := d.s.start(ctx, semconv.SpanDLQResolve, attrs...)
	err := ResolveDeadLetter(ctx, d.q, id, resolvedBy)
	span.end(err)
	return err
}

func (d *tracedDLQ) Retry(ctx context.Context, id string) (DeadLetter, error) {
	ctx, span := d.s.start(ctx, semconv.SpanDLQRetry, attribute.String(semconv.AttrDLQID, id))
	out, err := d.q.Retry(ctx, id)
	span.end(err)
	return out, err
}

// cutRunes returns s cut to n characters, as Python's s[:n] does.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// InMemoryDLQ is a bounded DeadLetterQueue emitting eventsource.dlq.* spans
// with db.system "memory", as eventsource-py's in-memory DLQ does.
// When full, the oldest entry is evicted and counted in Evicted. Its entries
// are lost on restart; sqlitestore keeps them in the database.
type InMemoryDLQ struct {
	traced *tracedDLQ
	mem    *memDLQ
}

var _ DeadLetterAdmin = (*InMemoryDLQ)(nil)

// NewInMemoryDLQ returns a DLQ holding at most maxEntries (default 10000).
func NewInMemoryDLQ(maxEntries int, opts ...Option) *InMemoryDLQ {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	mem := &memDLQ{max: maxEntries, entries: make(map[string]*DeadLetter), open: make(map[string]string)}
	return &InMemoryDLQ{traced: traceDeadLetters(mem, semconv.DBSystemMemory, opts), mem: mem}
}

// Add implements DeadLetterQueue.
func (q *InMemoryDLQ) Add(ctx context.Context, d DeadLetter) (string, error) {
	return q.traced.Add(ctx, d)
}

// Get implements DeadLetterQueue.
func (q *InMemoryDLQ) Get(ctx context.Context, projection string) ([]DeadLetter, error) {
	return q.traced.Get(ctx, projection)
}

// Query implements DeadLetterAdmin.
func (q *InMemoryDLQ) Query(ctx context.Context, query DeadLetterQuery) ([]DeadLetter, error) {
	return q.traced.Query(ctx, query)
}

// Resolve implements DeadLetterQueue.
func (q *InMemoryDLQ) Resolve(ctx context.Context, id string) error { return q.traced.Resolve(ctx, id) }

// ResolveBy implements DeadLetterAdmin; the in-memory queue keeps no resolver.
func (q *InMemoryDLQ) ResolveBy(ctx context.Context, id, resolvedBy string) error {
	return q.traced.ResolveBy(ctx, id, resolvedBy)
}

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
