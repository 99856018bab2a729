package pgstore

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore/pgtest"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

// TestMain shares one PostgreSQL server (pgtest) among the tests; each gets
// its own database. A re-executed crash-test child skips it.
func TestMain(m *testing.M) {
	if storetest.IsOutboxCrashChild() {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}

// open returns a store on a new, empty database.
func open(t *testing.T, cfg Config, opts ...eventsource.Option) *Store {
	t.Helper()
	s, err := OpenConfig(context.Background(), pgtest.NewDatabase(t), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventsource.EventStore { return open(t, Config{}) })
}

func TestConformanceWithOutbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventsource.EventStore { return open(t, Config{Outbox: true}) })
}

func TestSnapshotStore(t *testing.T) {
	storetest.RunSnapshotStore(t, func(t *testing.T) eventsource.SnapshotStore { return open(t, Config{}).Snapshots() })
}

func TestDeadLetterQueue(t *testing.T) {
	storetest.RunDeadLetterQueue(t, func(t *testing.T) eventsource.DeadLetterQueue { return open(t, Config{}).DLQ() })
}

func TestCheckpointStore(t *testing.T) {
	storetest.RunCheckpointStore(t, func(t *testing.T) eventsource.CheckpointStore { return open(t, Config{}) })
}

// TestReopen: a second Store on the same database (another process, or a
// restart) sees the events and continues their positions and versions.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendEvents(ctx, "x", "Order", 0, []eventsource.Event{storetest.NewEvent("A"), storetest.NewEvent("B")}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.AppendEvents(ctx, "x", "Order", 1, []eventsource.Event{storetest.NewEvent("Late")}); !errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Fatalf("stale append: %v", err)
	}
	next, err := b.AppendEvents(ctx, "x", "Order", 2, []eventsource.Event{storetest.NewEvent("C")})
	if err != nil {
		t.Fatal(err)
	}
	if next[0].Position != 3 || next[0].Version != 3 {
		t.Fatalf("continued at position %d version %d", next[0].Position, next[0].Version)
	}
}

// TestUniqueVersionIsAConflict: a row that got in without the append lock
// (another writer) still makes the append a ConcurrencyError, through the
// unique (aggregate_id, version) constraint.
func TestUniqueVersionIsAConflict(t *testing.T) {
	s := open(t, Config{})
	err := s.conflict(context.Background(), "x", 0, &pgconn.PgError{Code: "23505", ConstraintName: "events_stream_version"})
	var ce *eventsource.ConcurrencyError
	if !errors.As(err, &ce) || ce.AggregateID != "x" || ce.Actual != 0 {
		t.Fatalf("got %v", err)
	}
	other := errors.New("other")
	if err := s.conflict(context.Background(), "x", 0, other); err != other {
		t.Fatalf("other error became %v", err)
	}
	// And for real: a row inserted behind the store's back.
	ctx := context.Background()
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO events (event_id, event_type, aggregate_id, aggregate_type, version, timestamp_ns)
		VALUES ('e1', 'X', 'y', 'Order', 1, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO events (event_id, event_type, aggregate_id, aggregate_type, version, timestamp_ns)
		VALUES ('e2', 'X', 'y', 'Order', 1, 0)`); err == nil {
		t.Fatal("the unique (aggregate_id, version) constraint is missing")
	} else if ce := s.conflict(ctx, "y", 0, err); !errors.Is(ce, eventsource.ErrConcurrencyConflict) {
		t.Fatalf("violation mapped to %v", ce)
	}
}

func TestSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := open(t, Config{}, eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	stored, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{storetest.NewEvent("X"), storetest.NewEvent("Y")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEvents(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{storetest.NewEvent("Z")}); err == nil {
		t.Fatal("conflict not detected")
	}
	if _, err := s.ReadAll(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Snapshots().SaveSnapshot(ctx, eventsource.Snapshot{AggregateID: "a", AggregateType: "Order", Version: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DLQ().Get(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	var dbName string
	if err := s.DB().QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}

	spans := sr.Ended()
	want := []string{
		"postgresql_event_store.append_events", "postgresql_event_store.get_events", "postgresql_event_store.append_events",
		"postgresql_event_store.read_all", semconv.SpanSnapshotSave, semconv.SpanDLQGet,
	}
	if len(spans) != len(want) {
		t.Fatalf("got %d spans, want %d", len(spans), len(want))
	}
	for i, sp := range spans {
		attrs := map[string]any{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		// Event-store spans name the database; the snapshot and DLQ spans, like
		// eventsource-py's SQL ones, carry no db.system (CheckDeadLetterSpans).
		wantSystem := any("postgresql")
		if i >= 4 {
			wantSystem = nil
		}
		if sp.Name() != want[i] || attrs[semconv.AttrDBSystem] != wantSystem {
			t.Errorf("span %d: %s %v", i, sp.Name(), attrs)
		}
		if i < 4 {
			if sp.SpanKind() != trace.SpanKindClient || attrs[semconv.AttrDBName] != dbName {
				t.Errorf("span %d: kind %v, db.name %v, want %s", i, sp.SpanKind(), attrs[semconv.AttrDBName], dbName)
			}
		}
		if i == 0 {
			if attrs[semconv.AttrESPosition] != int64(2) || attrs[semconv.AttrESEventCount] != int64(2) {
				t.Errorf("append span: %v", attrs)
			}
			if stored[0].TraceContext().SpanID() != sp.SpanContext().SpanID() {
				t.Error("events do not carry the append span's context")
			}
		}
		if i == 2 && attrs[semconv.AttrErrorType] != "ConcurrencyError" {
			t.Errorf("conflict span: %v", attrs)
		}
	}
}

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) eventsource.OutboxStore { return open(t, Config{Outbox: true}) })
}

func TestNoOutboxByDefault(t *testing.T) {
	if open(t, Config{}).Outbox() != nil {
		t.Fatal("Open turned the outbox on")
	}
}

// TestOutboxSurvivesKill: a child process saves aggregates and is killed
// with SIGKILL while its relay is publishing; every event is published after
// the restart. The child uses the parent's database.
func TestOutboxSurvivesKill(t *testing.T) {
	target := os.Getenv("STORETEST_OUTBOX_CRASH_TARGET")
	if !storetest.IsOutboxCrashChild() {
		target = pgtest.NewDatabase(t)
	}
	storetest.RunOutboxCrash(t, target, func(t *testing.T, dsn string) eventsource.OutboxStore {
		s, err := OpenConfig(context.Background(), dsn, Config{Outbox: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestOutboxSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	storetest.CheckOutboxSpans(t, open(t, Config{Outbox: true}, eventsource.WithTracerProvider(tp)), sr, semconv.DBSystemPostgreSQL)
}
