package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// RunDeadLetterQueue runs the dead-letter queue suite. newQueue must return
// an empty queue each call.
func RunDeadLetterQueue(t *testing.T, newQueue func(t *testing.T) eventsource.DeadLetterQueue) {
	t.Run("AddGetRoundTrip", func(t *testing.T) { dlqRoundTrip(t, newQueue(t)) })
	t.Run("RetryAndResolve", func(t *testing.T) { dlqRetryResolve(t, newQueue(t)) })
	t.Run("SameEventIsOneEntry", func(t *testing.T) { dlqSameEvent(t, newQueue(t)) })
	t.Run("UnknownID", func(t *testing.T) { dlqUnknown(t, newQueue(t)) })
	t.Run("ConcurrentAdds", func(t *testing.T) { dlqConcurrent(t, newQueue(t)) })
}

// NewDeadLetter returns a dead letter for projection of a stored event at
// position pos, with every field set.
func NewDeadLetter(projection string, pos int64) eventsource.DeadLetter {
	e := NewEvent(fmt.Sprint("Evt", pos))
	e.ID = fmt.Sprintf("evt-%d", pos)
	e.AggregateID, e.AggregateType = fmt.Sprint("agg-", pos), "Order"
	e.Version, e.Position = 1, pos
	e.Metadata = map[string]string{semconv.MetadataTraceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	return eventsource.DeadLetter{Projection: projection, Event: e, Error: fmt.Sprint("boom ", pos),
		Attempts: 3, FailedAt: time.Unix(1_700_000_100, int64(pos))}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// sameDeadLetter compares entries field by field, times by instant.
func sameDeadLetter(t *testing.T, want, got eventsource.DeadLetter) {
	t.Helper()
	if !want.FailedAt.Equal(got.FailedAt) || !want.Event.Timestamp.Equal(got.Event.Timestamp) {
		t.Fatalf("times differ: want %v / %v, got %v / %v", want.FailedAt, want.Event.Timestamp, got.FailedAt, got.Event.Timestamp)
	}
	want.FailedAt, want.Event.Timestamp = got.FailedAt, got.Event.Timestamp
	if fmt.Sprintf("%+v", want) != fmt.Sprintf("%+v", got) {
		t.Fatalf("dead letter differs:\nwant %+v\ngot  %+v", want, got)
	}
}

func dlqRoundTrip(t *testing.T, q eventsource.DeadLetterQueue) {
	ctx := context.Background()
	id := must[string](t)
	var want []eventsource.DeadLetter
	for pos := int64(1); pos <= 3; pos++ {
		d := NewDeadLetter("p", pos)
		d.ID = id(q.Add(ctx, d))
		want = append(want, d)
		_ = id(q.Add(ctx, NewDeadLetter("other", pos)))
	}
	if want[0].ID == want[1].ID || want[1].ID == want[2].ID {
		t.Fatalf("ids are not distinct: %s %s %s", want[0].ID, want[1].ID, want[2].ID)
	}
	got := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "p"))
	if len(got) != len(want) {
		t.Fatalf("Get: %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		sameDeadLetter(t, want[i], got[i])
	}
	if none := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "nobody")); len(none) != 0 {
		t.Fatalf("Get of an unknown projection: %d entries", len(none))
	}
}

func dlqRetryResolve(t *testing.T, q eventsource.DeadLetterQueue) {
	ctx := context.Background()
	a := must[string](t)(q.Add(ctx, NewDeadLetter("p", 1)))
	b := must[string](t)(q.Add(ctx, NewDeadLetter("p", 2)))
	d := must[eventsource.DeadLetter](t)(q.Retry(ctx, a))
	if d.Attempts != 4 || d.ID != a || d.Event.Position != 1 {
		t.Fatalf("Retry: got %+v, want attempts 4 on %s", d, a)
	}
	if err := q.Resolve(ctx, a); err != nil {
		t.Fatal(err)
	}
	left := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "p"))
	if len(left) != 1 || left[0].ID != b {
		t.Fatalf("after resolving %s: %+v, want only %s", a, left, b)
	}
}

func dlqSameEvent(t *testing.T, q eventsource.DeadLetterQueue) {
	ctx := context.Background()
	first := must[string](t)(q.Add(ctx, NewDeadLetter("p", 1)))
	again := NewDeadLetter("p", 1)
	again.Error, again.Attempts = "boom again", 2
	if id := must[string](t)(q.Add(ctx, again)); id != first {
		t.Fatalf("the same event dead-lettered again got id %s, want %s", id, first)
	}
	got := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "p"))
	if len(got) != 1 || got[0].Attempts != 5 || got[0].Error != "boom again" {
		t.Fatalf("after a second Add of one event: %+v, want one entry, 5 attempts, the latest error", got)
	}
	// Another projection's failure on the same event is its own entry, and
	// once resolved, a new failure is a new entry.
	if id := must[string](t)(q.Add(ctx, NewDeadLetter("q", 1))); id == first {
		t.Fatal("another projection's dead letter reused the id")
	}
	if err := q.Resolve(ctx, first); err != nil {
		t.Fatal(err)
	}
	if id := must[string](t)(q.Add(ctx, NewDeadLetter("p", 1))); id == first {
		t.Fatal("a failure after resolving reused the resolved entry")
	}
}

func dlqUnknown(t *testing.T, q eventsource.DeadLetterQueue) {
	ctx := context.Background()
	if err := q.Resolve(ctx, "404"); !errors.Is(err, eventsource.ErrDeadLetterNotFound) {
		t.Fatalf("Resolve of an unknown id: %v", err)
	}
	if _, err := q.Retry(ctx, "404"); !errors.Is(err, eventsource.ErrDeadLetterNotFound) {
		t.Fatalf("Retry of an unknown id: %v", err)
	}
}

func dlqConcurrent(t *testing.T, q eventsource.DeadLetterQueue) {
	ctx := context.Background()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := q.Add(ctx, NewDeadLetter("p", int64(w*each+i+1))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "p"))
	if len(got) != writers*each {
		t.Fatalf("%d entries after %d concurrent adds", len(got), writers*each)
	}
}
