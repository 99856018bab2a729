package eventsource_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

// plainDLQ and plainSnapshots hide the extension interfaces of what they
// wrap, as a third-party store would be.
type plainDLQ struct{ eventsource.DeadLetterQueue }

type plainSnapshots struct{ eventsource.SnapshotStore }

func untracedDLQ() eventsource.DeadLetterQueue {
	return plainDLQ{eventsource.NewInMemoryDLQ(0, eventsource.WithTracing(false))}
}

func untracedSnapshots() eventsource.SnapshotStore {
	return plainSnapshots{eventsource.NewInMemorySnapshotStore(eventsource.WithTracing(false))}
}

// TestDeadLetterSpansMatchEventsourcePy: the eventsource.dlq.* spans have the
// names, attribute keys and value types of eventsource-py 0.14's in-memory
// DLQ (db.system "memory") and, through TraceDeadLetters as the SQL stores use
// it, of its SQL DLQ (no db.system).
func TestDeadLetterSpansMatchEventsourcePy(t *testing.T) {
	t.Run("InMemory", func(t *testing.T) {
		sr, tp := newRecorder(t)
		q := eventsource.NewInMemoryDLQ(0, eventsource.WithTracerProvider(tp))
		storetest.CheckDeadLetterSpans(t, q, sr, storetest.PyMemoryDLQ, semconv.DBSystemMemory)
	})
	for _, system := range []string{semconv.DBSystemPostgreSQL, semconv.DBSystemSQLite, ""} {
		t.Run("Traced/"+system, func(t *testing.T) {
			sr, tp := newRecorder(t)
			q := eventsource.TraceDeadLetters(untracedDLQ(), system, eventsource.WithTracerProvider(tp))
			storetest.CheckDeadLetterSpans(t, q, sr, storetest.PySQLDLQ, "")
		})
	}
}

// TestSnapshotSpansMatchEventsourcePy: the eventsource.snapshot.* spans have
// the names, attribute keys and value types of eventsource-py 0.14's snapshot
// stores, none of which writes db.system.
func TestSnapshotSpansMatchEventsourcePy(t *testing.T) {
	t.Run("InMemory", func(t *testing.T) {
		sr, tp := newRecorder(t)
		storetest.CheckSnapshotSpans(t, eventsource.NewInMemorySnapshotStore(eventsource.WithTracerProvider(tp)), sr, storetest.PyMemorySnapshots)
	})
	for system, source := range map[string]string{semconv.DBSystemPostgreSQL: storetest.PyPostgresSnapshots,
		semconv.DBSystemSQLite: storetest.PySQLiteSnapshots} {
		t.Run("Traced/"+system, func(t *testing.T) {
			sr, tp := newRecorder(t)
			s := eventsource.TraceSnapshots(untracedSnapshots(), system, eventsource.WithTracerProvider(tp))
			storetest.CheckSnapshotSpans(t, s, sr, source)
		})
	}
}

// The wrappers keep the stores' behaviour, with or without the extensions
// underneath.
func TestTracedStoresConformance(t *testing.T) {
	storetest.RunDeadLetterQueue(t, func(*testing.T) eventsource.DeadLetterQueue {
		return eventsource.TraceDeadLetters(untracedDLQ(), semconv.DBSystemSQLite)
	})
	storetest.RunSnapshotStore(t, func(*testing.T) eventsource.SnapshotStore {
		return eventsource.TraceSnapshots(untracedSnapshots(), semconv.DBSystemSQLite)
	})
}

func TestDeadLetterAdminHelpers(t *testing.T) {
	ctx := context.Background()
	for name, q := range map[string]eventsource.DeadLetterQueue{
		"admin": eventsource.NewInMemoryDLQ(0), "plain": untracedDLQ(),
		"traced plain": eventsource.TraceDeadLetters(untracedDLQ(), ""),
	} {
		t.Run(name, func(t *testing.T) {
			var ids []string
			for pos := int64(1); pos <= 3; pos++ {
				id, err := q.Add(ctx, storetest.NewDeadLetter("p", pos))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			for limit, want := range map[int]int{0: 3, -1: 3, 1: 1, 2: 2, 5: 3} {
				got, err := eventsource.QueryDeadLetters(ctx, q, eventsource.DeadLetterQuery{Projection: "p", Limit: limit})
				if err != nil || len(got) != want || got[0].ID != ids[0] {
					t.Fatalf("limit %d: %d entries (%v), want the %d oldest", limit, len(got), err, want)
				}
			}
			if err := eventsource.ResolveDeadLetter(ctx, q, ids[0], "ops"); err != nil {
				t.Fatal(err)
			}
			if err := eventsource.ResolveDeadLetter(ctx, q, "404", "ops"); err == nil {
				t.Fatal("resolving an unknown id succeeded")
			}
			if got, _ := q.Get(ctx, "p"); len(got) != 2 {
				t.Fatalf("%d entries left after resolving one of 3", len(got))
			}
		})
	}
}

// A snapshot read through the old one-argument GetSnapshot still names the
// aggregate type, taken from the snapshot found; no version is added.
func TestSnapshotGetTakesTheTypeFromTheSnapshot(t *testing.T) {
	sr, tp := newRecorder(t)
	s := eventsource.NewInMemorySnapshotStore(eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	if err := s.SaveSnapshot(ctx, eventsource.Snapshot{AggregateID: "o1", AggregateType: "Order", Version: 4}); err != nil {
		t.Fatal(err)
	}
	sr.Reset()
	if _, ok, err := s.GetSnapshot(ctx, "o1"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	get := one(t, sr.Ended(), semconv.SpanSnapshotGet)
	want := []attribute.KeyValue{attribute.String(semconv.AttrESAggregateID, "o1"), attribute.String(semconv.AttrESAggregateType, "Order")}
	if got := get.Attributes(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("snapshot.get attributes %v, want %v", got, want)
	}
}
