package eventsource

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// PublishError reports stored events that could not be published. It is
// never a failed save: the events are in the store, projections read them
// from there (a projection that sees a position gap catches up from the
// store), and the batch stays queued to be published again, whole: handlers
// may see the events of a partly published batch twice (at least once).
type PublishError struct {
	Events []Event
	// Attempts is how many times publishing this batch has failed.
	Attempts int
	Err      error
}

func (e *PublishError) Error() string {
	first, last := int64(0), int64(0)
	if n := len(e.Events); n > 0 {
		first, last = e.Events[0].Position, e.Events[n-1].Position
	}
	return fmt.Sprintf("eventsource: publishing stored events (positions %d-%d, attempt %d): %v", first, last, e.Attempts, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// PublishStats counts a repository's publishing of stored events.
type PublishStats struct {
	// Failed counts failed publish attempts (first tries and retries).
	Failed int64
	// Republished counts batches published by a retry after failing.
	Republished int64
	// Pending is the number of batches waiting to be published again.
	Pending int
	// Dropped counts batches given up because more than MaxUnpublished
	// were pending; projections still read them from the store, other
	// event handlers never see them.
	Dropped int64
}

// publishQueue publishes stored events and keeps the batches that failed, in
// order, to publish them again before anything newer. The transactional
// outbox replaces it where the store supports one.
type publishQueue struct {
	publisher EventPublisher
	onError   func(*PublishError)
	max       int

	pendingN atomic.Int64 // len(pending), read without the lock on the fast path
	mu       sync.Mutex
	pending  []*PublishError

	failed, republished, dropped atomic.Int64
}

// publish hands stored events to the publisher. Failures are recorded on the
// caller's span (a publish_failed event), counted, queued and reported to
// onError; they are never returned, since the events are stored.
func (q *publishQueue) publish(ctx context.Context, span trace.Span, events []Event) {
	if q.pendingN.Load() == 0 {
		err := q.publisher.Publish(ctx, events)
		if err == nil {
			return
		}
		queued := &PublishError{Events: events, Attempts: 1, Err: err}
		q.mu.Lock()
		q.fail(span, queued)
		q.enqueue(queued)
		q.mu.Unlock()
		q.report(&PublishError{Events: events, Attempts: 1, Err: err}) // the queued one changes on retries
		return
	}
	// Older batches go first, so one aggregate's events keep their order.
	q.mu.Lock()
	q.enqueue(&PublishError{Events: events})
	_, failed := q.flush(ctx, span)
	q.mu.Unlock()
	q.report(failed)
}

// retry publishes the pending batches in order until one fails and returns
// how many were published.
func (q *publishQueue) retry(ctx context.Context, span trace.Span) int {
	q.mu.Lock()
	done, failed := q.flush(ctx, span)
	q.mu.Unlock()
	q.report(failed)
	return done
}

// flush publishes pending batches in order; it stops at the first failure
// and returns it (a copy, to report outside the lock). Callers hold q.mu.
func (q *publishQueue) flush(ctx context.Context, span trace.Span) (done int, failed *PublishError) {
	for len(q.pending) > 0 {
		b := q.pending[0]
		if err := q.publisher.Publish(ctx, b.Events); err != nil {
			b.Attempts++
			b.Err = err
			q.fail(span, b)
			return done, &PublishError{Events: b.Events, Attempts: b.Attempts, Err: b.Err}
		}
		if b.Attempts > 0 {
			q.republished.Add(1)
		}
		q.pending[0] = nil
		q.pending = q.pending[1:]
		q.pendingN.Add(-1)
		done++
	}
	return done, nil
}

// fail counts a failed attempt and records it on span. Callers hold q.mu.
func (q *publishQueue) fail(span trace.Span, b *PublishError) {
	q.failed.Add(1)
	if span.IsRecording() {
		span.AddEvent(semconv.EventPublishFailed, trace.WithAttributes(
			attribute.Int(semconv.AttrESRetryCount, b.Attempts),
			attribute.Int(semconv.AttrESEventCount, len(b.Events)),
			attribute.String(semconv.AttrESErrorType, ErrorType(b.Err))))
	}
}

// report calls onError, without holding q.mu: it may call RetryPublish.
func (q *publishQueue) report(failed *PublishError) {
	if failed != nil && q.onError != nil {
		q.onError(failed)
	}
}

func (q *publishQueue) enqueue(b *PublishError) {
	q.pending = append(q.pending, b)
	q.pendingN.Add(1)
	for len(q.pending) > q.max {
		q.pending[0] = nil
		q.pending = q.pending[1:]
		q.pendingN.Add(-1)
		q.dropped.Add(1)
	}
}

func (q *publishQueue) stats() PublishStats {
	q.mu.Lock()
	n := len(q.pending)
	q.mu.Unlock()
	return PublishStats{Failed: q.failed.Load(), Republished: q.republished.Load(), Pending: n, Dropped: q.dropped.Load()}
}
