package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Events is an event store on an events table with the columns both SQL
// stores create (position, event_id, event_type, aggregate_id,
// aggregate_type, version, timestamp_ns, data, metadata): GetEvents, ReadAll
// and HeadPosition, traced by Instr, and the append transaction (Append).
// sqlitestore and pgstore embed it.
type Events struct {
	DB      *sql.DB
	Dialect Dialect
	Instr   *eventsource.StoreInstrumentation
	// Outbox, when set, gets one row per appended event in the append's
	// transaction.
	Outbox *Outbox
	// Lock, when set, is run first in every append transaction: PostgreSQL
	// serialises appends with an advisory lock so positions commit in order
	// (pgstore); SQLite's single writer needs none.
	Lock string
}

// Append appends events to an aggregate's stream in one transaction: the
// lock, the stream's version checked against expectedVersion
// (eventsource.PrepareAppend), one row per event with its position read
// back, and the outbox rows. It returns the events as stored; it does not
// trace (the store's AppendEvents does).
func (s Events) Append(ctx context.Context, aggregateID, aggregateType string, expectedVersion int64, events []eventsource.Event) (_ []eventsource.Event, err error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if s.Lock != "" {
		if _, err := tx.ExecContext(ctx, s.Lock); err != nil {
			return nil, err
		}
	}
	var current int64
	if err := tx.QueryRowContext(ctx, bind(s.Dialect, `SELECT COALESCE(MAX(version), 0) FROM events WHERE aggregate_id = ?`),
		aggregateID).Scan(&current); err != nil {
		return nil, err
	}
	prepared, err := eventsource.PrepareAppend(ctx, aggregateID, aggregateType, expectedVersion, current, events)
	if err != nil {
		return nil, err
	}
	stmt, err := tx.PrepareContext(ctx, bind(s.Dialect, `INSERT INTO events
		(event_id, event_type, aggregate_id, aggregate_type, version, timestamp_ns, data, metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING position`))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for i := range prepared {
		e := &prepared[i]
		meta, err := encodeMetadata(e.Metadata)
		if err != nil {
			return nil, err
		}
		var data []byte
		if len(e.Data) > 0 {
			data = []byte(e.Data)
		}
		if err := stmt.QueryRowContext(ctx, e.ID, e.Type, e.AggregateID, e.AggregateType, e.Version,
			e.Timestamp.UnixNano(), data, meta).Scan(&e.Position); err != nil {
			return nil, err
		}
	}
	if s.Outbox != nil {
		if err := s.Outbox.AddTx(ctx, tx, prepared); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return prepared, nil
}

const selectEvents = `SELECT position, event_id, event_type, aggregate_id, aggregate_type, version, timestamp_ns, data, metadata FROM events `

// GetEvents implements eventsource.EventStore.
func (s Events) GetEvents(ctx context.Context, aggregateID string, fromVersion int64) ([]eventsource.Event, error) {
	ctx, span := s.Instr.StartGet(ctx, aggregateID, fromVersion)
	out, err := s.query(ctx, selectEvents+`WHERE aggregate_id = `+s.Dialect.Placeholder(1)+` AND version > `+
		s.Dialect.Placeholder(2)+` ORDER BY version`, aggregateID, fromVersion)
	s.Instr.EndGet(span, out, err)
	return out, err
}

// ReadAll implements eventsource.EventStore.
func (s Events) ReadAll(ctx context.Context, fromPosition int64, limit int) ([]eventsource.Event, error) {
	ctx, span := s.Instr.StartReadAll(ctx, fromPosition, limit)
	q, args := selectEvents+`WHERE position > `+s.Dialect.Placeholder(1)+` ORDER BY position`, []any{fromPosition}
	if limit > 0 {
		q, args = q+` LIMIT `+s.Dialect.Placeholder(2), append(args, limit)
	}
	out, err := s.query(ctx, q, args...)
	s.Instr.EndReadAll(span, out, err)
	return out, err
}

// HeadPosition implements eventsource.EventStore.
func (s Events) HeadPosition(ctx context.Context) (int64, error) {
	var head int64
	err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&head)
	return head, err
}

func (s Events) query(ctx context.Context, q string, args ...any) ([]eventsource.Event, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventsource.Event
	for rows.Next() {
		var (
			e    eventsource.Event
			ts   int64
			data []byte
			meta sql.NullString
		)
		if err := rows.Scan(&e.Position, &e.ID, &e.Type, &e.AggregateID, &e.AggregateType, &e.Version, &ts, &data, &meta); err != nil {
			return nil, err
		}
		e.Timestamp = time.Unix(0, ts)
		if len(data) > 0 {
			e.Data = json.RawMessage(data)
		}
		if e.Metadata, err = decodeMetadata(meta); err != nil {
			return nil, fmt.Errorf("sqlstore: event %s: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
