package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Events is the read side of an event store whose events table has the
// columns both SQL stores create (position, event_id, event_type,
// aggregate_id, aggregate_type, version, timestamp_ns, data, metadata):
// GetEvents, ReadAll and HeadPosition, traced by Instr. sqlitestore and
// pgstore embed it; each writes its own appends.
type Events struct {
	DB      *sql.DB
	Dialect Dialect
	Instr   *eventsource.StoreInstrumentation
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
