// Package sqlitestore is the eventsource runtime's SQLite storage, on a file
// that survives restarts: the event store, and in the same database the
// projection checkpoints, the dead-letter queue and the snapshots (the SQL of
// package sqlstore with its SQLite dialect). It uses the pure-Go
// modernc.org/sqlite driver, so no cgo is needed.
//
// It is a separate module so that applications (and the otelcol-es
// collector) that do not use SQLite do not pull the driver in.
package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlstore"
)

const schema = `
CREATE TABLE IF NOT EXISTS events (
	position       INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id       TEXT    NOT NULL UNIQUE,
	event_type     TEXT    NOT NULL,
	aggregate_id   TEXT    NOT NULL,
	aggregate_type TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	timestamp_ns   INTEGER NOT NULL,
	data           BLOB,
	metadata       TEXT,
	UNIQUE (aggregate_id, version)
);`

// Config selects optional behaviour of a Store.
type Config struct {
	// Outbox makes AppendEvents also write one event_outbox row per event,
	// in the same transaction: the store is then an eventsource.OutboxStore,
	// a Repository on it publishes nothing itself, and an
	// eventsource.OutboxRelay on Store.Outbox publishes the rows.
	Outbox bool
}

// Store is an eventsource.EventStore and eventsource.CheckpointStore on a
// SQLite file; DLQ and Snapshots give the dead-letter queue and snapshot
// store in the same file. Spans are named sqlite_event_store.*,
// eventsource.dlq.* and eventsource.snapshot.* (and eventsource.outbox.*
// with an outbox), with db.system=sqlite.
type Store struct {
	db              *sql.DB
	instr           *eventsource.StoreInstrumentation
	cps             *sqlstore.Checkpoints
	dlq             eventsource.DeadLetterQueue
	snapshots       eventsource.SnapshotStore
	outbox          *sqlstore.Outbox // nil without Config.Outbox
	sqlstore.Events                  // GetEvents, ReadAll, HeadPosition, the append
}

var (
	_ eventsource.EventStore      = (*Store)(nil)
	_ eventsource.CheckpointStore = (*Store)(nil)
	_ eventsource.OutboxStore     = (*Store)(nil)
)

// Open opens (creating if needed) the SQLite database at path.
func Open(path string, opts ...eventsource.Option) (*Store, error) {
	return OpenConfig(path, Config{}, opts...)
}

// OpenConfig is Open with a Config.
func OpenConfig(path string, cfg Config, opts ...eventsource.Option) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// One connection serialises writers, so the version check and the
	// inserts of an append are atomic without SQLITE_BUSY upgrade deadlocks.
	db.SetMaxOpenConns(1)
	s, err := newStore(db, cfg, opts)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: creating schema in %s: %w", path, err)
	}
	return s, nil
}

func newStore(db *sql.DB, cfg Config, opts []eventsource.Option) (*Store, error) {
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, err
	}
	cps, err := sqlstore.NewCheckpoints(ctx, db, sqlstore.SQLite)
	if err != nil {
		return nil, err
	}
	dlq, err := sqlstore.NewDeadLetters(ctx, db, sqlstore.SQLite)
	if err != nil {
		return nil, err
	}
	snaps, err := sqlstore.NewSnapshots(ctx, db, sqlstore.SQLite)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:        db,
		instr:     eventsource.NewStoreInstrumentation(semconv.EventStoreSQLite, semconv.DBSystemSQLite, trace.SpanKindClient, opts...),
		cps:       cps,
		dlq:       eventsource.TraceDeadLetters(dlq, semconv.DBSystemSQLite, opts...),
		snapshots: eventsource.TraceSnapshots(snaps, semconv.DBSystemSQLite, opts...),
	}
	if cfg.Outbox {
		if s.outbox, err = sqlstore.NewOutbox(ctx, db, sqlstore.SQLite, opts...); err != nil {
			return nil, err
		}
	}
	// One connection (OpenConfig) serialises appends: no lock needed.
	s.Events = sqlstore.Events{DB: db, Dialect: sqlstore.SQLite, Instr: s.instr, Outbox: s.outbox}
	return s, nil
}

// Outbox implements eventsource.OutboxStore: the outbox AppendEvents writes
// to, or nil when the store was opened without Config.Outbox.
func (s *Store) Outbox() eventsource.Outbox {
	if s.outbox == nil {
		return nil
	}
	return s.outbox
}

// DLQ is the dead-letter queue in this database: dead letters survive a
// restart, like the checkpoint that moved past them.
func (s *Store) DLQ() eventsource.DeadLetterQueue { return s.dlq }

// Snapshots is the snapshot store in this database.
func (s *Store) Snapshots() eventsource.SnapshotStore { return s.snapshots }

// DB is the database, for read models kept in the same file as the events
// and their checkpoints.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// AppendEvents implements eventsource.EventStore.
func (s *Store) AppendEvents(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []eventsource.Event) ([]eventsource.Event, error) {
	ctx, span := s.instr.StartAppend(ctx, aggregateID, aggregateType, expectedVersion, len(events))
	stored, err := s.Append(ctx, aggregateID, aggregateType, expectedVersion, events)
	s.instr.EndAppend(span, stored, err)
	return stored, err
}

// GetCheckpoint implements eventsource.CheckpointStore.
func (s *Store) GetCheckpoint(ctx context.Context, projection string) (int64, error) {
	return s.cps.GetCheckpoint(ctx, projection)
}

// UpdateCheckpoint implements eventsource.CheckpointStore.
func (s *Store) UpdateCheckpoint(ctx context.Context, projection string, position int64) error {
	return s.cps.UpdateCheckpoint(ctx, projection, position)
}

// ResetCheckpoint implements eventsource.CheckpointStore.
func (s *Store) ResetCheckpoint(ctx context.Context, projection string) error {
	return s.cps.ResetCheckpoint(ctx, projection)
}
