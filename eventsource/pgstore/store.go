// Package pgstore is the eventsource runtime's PostgreSQL storage: the event
// store, and in the same database the projection checkpoints, the
// dead-letter queue and the snapshots (the SQL of package sqlstore with its
// PostgreSQL dialect).
//
// It talks to PostgreSQL through github.com/jackc/pgx/v5's database/sql
// driver (pgx/v5/stdlib) rather than a pgxpool: sqlstore's stores (and the
// transactional outbox, whose rows must be written in the event append's
// transaction) are written once against database/sql for every database, so
// one *sql.DB (one pool) serves them all and the append and its outbox rows
// share one *sql.Tx. pgx still does the wire protocol and the types.
//
// It is a separate module so that applications (and the otelcol-es
// collector) that do not use PostgreSQL do not pull the driver in.
package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlstore"
)

// appendLock is the key of the transaction-level advisory lock every append
// takes (see Store.AppendEvents).
const appendLock int64 = 0x6576656e74730001 // "events" + 1

var schema = []string{
	`CREATE TABLE IF NOT EXISTS events (
		position       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		event_id       TEXT   NOT NULL UNIQUE,
		event_type     TEXT   NOT NULL,
		aggregate_id   TEXT   NOT NULL,
		aggregate_type TEXT   NOT NULL,
		version        BIGINT NOT NULL,
		timestamp_ns   BIGINT NOT NULL,
		data           BYTEA,
		metadata       TEXT,
		CONSTRAINT events_stream_version UNIQUE (aggregate_id, version)
	)`,
}

// Config selects optional behaviour of a Store.
type Config struct {
	// Outbox makes AppendEvents also write one event_outbox row per event,
	// in the same transaction: the store is then an eventsource.OutboxStore,
	// a Repository on it publishes nothing itself, and an
	// eventsource.OutboxRelay on Store.Outbox publishes the rows.
	Outbox bool
	// OutboxLease, when > 0, lets several relays publish from the outbox at
	// once, each row by one of them: a relay claims the rows it reads for
	// this long (FOR UPDATE SKIP LOCKED; sqlstore.Outbox.ShareWithRelays says
	// what it costs in order). 0: one relay at a time, every row in append
	// order.
	OutboxLease time.Duration
}

// Store is an eventsource.EventStore and eventsource.CheckpointStore on a
// PostgreSQL database; DLQ and Snapshots give the dead-letter queue and
// snapshot store in the same database. Spans are named
// postgresql_event_store.*, eventsource.dlq.*, eventsource.snapshot.* (and
// eventsource.outbox.* with an outbox), with db.system=postgresql; the event
// store's spans also carry db.name.
type Store struct {
	db              *sql.DB
	ownDB           bool
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

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, see pgx) and creates the tables if needed.
func Open(ctx context.Context, dsn string, opts ...eventsource.Option) (*Store, error) {
	return OpenConfig(ctx, dsn, Config{}, opts...)
}

// OpenConfig is Open with a Config.
func OpenConfig(ctx context.Context, dsn string, cfg Config, opts ...eventsource.Option) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, db, cfg, opts...)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownDB = true
	return s, nil
}

// New uses a database opened with the "pgx" driver (Close leaves it open).
func New(ctx context.Context, db *sql.DB, cfg Config, opts ...eventsource.Option) (*Store, error) {
	if err := createSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("pgstore: creating schema: %w", err)
	}
	var dbName string
	if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		return nil, err
	}
	d := sqlstore.PostgreSQL
	cps, err := sqlstore.NewCheckpoints(ctx, db, d)
	if err != nil {
		return nil, err
	}
	dlq, err := sqlstore.NewDeadLetters(ctx, db, d)
	if err != nil {
		return nil, err
	}
	snaps, err := sqlstore.NewSnapshots(ctx, db, d)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:        db,
		instr:     eventsource.NewStoreInstrumentation(semconv.EventStorePostgreSQL, semconv.DBSystemPostgreSQL, trace.SpanKindClient, opts...),
		cps:       cps,
		dlq:       eventsource.TraceDeadLetters(dlq, semconv.DBSystemPostgreSQL, opts...),
		snapshots: eventsource.TraceSnapshots(snaps, semconv.DBSystemPostgreSQL, opts...),
	}
	s.instr.SetDBName(dbName)
	if cfg.Outbox {
		if s.outbox, err = sqlstore.NewOutbox(ctx, db, d, opts...); err != nil {
			return nil, err
		}
		if cfg.OutboxLease > 0 {
			if err := s.outbox.ShareWithRelays(cfg.OutboxLease); err != nil {
				return nil, err
			}
		}
	}
	s.Events = sqlstore.Events{DB: db, Dialect: d, Instr: s.instr, Outbox: s.outbox,
		Lock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", appendLock)}
	return s, nil
}

// createSchema creates the events table under a session advisory lock, so
// that processes starting together do not race on CREATE TABLE IF NOT EXISTS.
func createSchema(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, appendLock+1); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, appendLock+1)
	}()
	for _, stmt := range schema {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// DLQ is the dead-letter queue in this database.
func (s *Store) DLQ() eventsource.DeadLetterQueue { return s.dlq }

// Snapshots is the snapshot store in this database.
func (s *Store) Snapshots() eventsource.SnapshotStore { return s.snapshots }

// Outbox implements eventsource.OutboxStore: the outbox AppendEvents writes
// to, or nil when the store was opened without Config.Outbox.
func (s *Store) Outbox() eventsource.Outbox {
	if s.outbox == nil {
		return nil
	}
	return s.outbox
}

// DB is the database, for read models kept next to the events.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database if Open opened it.
func (s *Store) Close() error {
	if !s.ownDB {
		return nil
	}
	return s.db.Close()
}

// AppendEvents implements eventsource.EventStore.
//
// Appends take one transaction-level advisory lock, so they commit one at a
// time and in position order: a reader following ReadAll never sees position
// n+1 before n commits (with concurrent identity values it could, and move
// its checkpoint past an event), and a rejected append never burns identity
// values, so positions have no gaps. Inside the lock the stream's version is
// checked before anything is inserted; the unique (aggregate_id, version)
// constraint backs the check up against writers that do not take the lock.
func (s *Store) AppendEvents(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []eventsource.Event) ([]eventsource.Event, error) {
	ctx, span := s.instr.StartAppend(ctx, aggregateID, aggregateType, expectedVersion, len(events))
	stored, err := s.Append(ctx, aggregateID, aggregateType, expectedVersion, events)
	if err != nil {
		err = s.conflict(ctx, aggregateID, expectedVersion, err)
	}
	s.instr.EndAppend(span, stored, err)
	return stored, err
}

// conflict turns a violation of the stream's unique version into a
// *eventsource.ConcurrencyError; other errors are returned as they are.
func (s *Store) conflict(ctx context.Context, aggregateID string, expected int64, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "events_stream_version" {
		return err
	}
	ce := &eventsource.ConcurrencyError{AggregateID: aggregateID, Expected: expected, Actual: -1}
	_ = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM events WHERE aggregate_id = $1`, aggregateID).Scan(&ce.Actual)
	return ce
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
