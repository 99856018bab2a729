// Package release sends the spans a processor releases on its own, after
// holding them for a while, to the next consumer. Those spans were already
// accepted upstream, so a refusal cannot travel back to the client: spans
// refused with a retryable error are kept and offered again with the next
// release, up to a limit; only a permanent error or the limit drops them, and
// the caller counts what was dropped.
package release // import "github.com/otelcol-es/otelcol-es/internal/release"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Retrier is safe for concurrent use.
type Retrier struct {
	next  consumer.Traces
	limit int

	mu    sync.Mutex
	kept  ptrace.Traces // refused, oldest first; zero value when none
	spans int
}

// New returns a Retrier that keeps at most limit refused spans.
func New(next consumer.Traces, limit int) *Retrier {
	return &Retrier{next: next, limit: max(limit, 1)}
}

// Send offers the spans kept from earlier refusals, then td (which it takes
// over), to the next consumer. It returns how many spans were dropped
// (refused permanently, or beyond the limit when refused again) and the
// consumer's error, if any.
func (r *Retrier) Send(ctx context.Context, td ptrace.Traces) (dropped int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spans > 0 {
		td.ResourceSpans().MoveAndAppendTo(r.kept.ResourceSpans())
		td = r.kept
	}
	r.kept, r.spans = ptrace.Traces{}, 0
	n := td.SpanCount()
	if n == 0 {
		return 0, nil
	}
	err = r.next.ConsumeTraces(ctx, td)
	switch {
	case err == nil:
		return 0, nil
	case consumererror.IsPermanent(err):
		return n, err
	}
	// Keep the newest spans within the limit: drop whole resources, oldest first.
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if n <= r.limit {
			return false
		}
		c := spanCount(rs)
		n -= c
		dropped += c
		return true
	})
	if n > 0 {
		r.kept, r.spans = td, n
	}
	return dropped, err
}

// Pending is the number of spans kept for another attempt.
func (r *Retrier) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spans
}

func spanCount(rs ptrace.ResourceSpans) int {
	n := 0
	for _, ss := range rs.ScopeSpans().All() {
		n += ss.Spans().Len()
	}
	return n
}
