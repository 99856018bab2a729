package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// DeadLetters is an eventsource.DeadLetterQueue in the dead_letters table:
// entries survive restarts, and the checkpoint that moved past a
// dead-lettered event never outlives its entry.
type DeadLetters struct {
	db                          *sql.DB
	add, byProj, resolve, retry string
}

var _ eventsource.DeadLetterQueue = (*DeadLetters)(nil)

const deadLetterColumns = `id, projection, event_id, event_type, aggregate_id, aggregate_type, version, position,
	timestamp_ns, data, metadata, error, attempts, failed_at_ns, resolved`

// NewDeadLetters creates the dead_letters table if needed.
func NewDeadLetters(ctx context.Context, db *sql.DB, d Dialect) (*DeadLetters, error) {
	err := createSchema(ctx, db, d, `CREATE TABLE IF NOT EXISTS dead_letters (
		id             {identity},
		projection     {text}  NOT NULL,
		event_id       {text}  NOT NULL,
		event_type     {text}  NOT NULL,
		aggregate_id   {text}  NOT NULL,
		aggregate_type {text}  NOT NULL,
		version        {int64} NOT NULL,
		position       {int64} NOT NULL,
		timestamp_ns   {int64} NOT NULL,
		data           {bytes},
		metadata       {text},
		error          {text}  NOT NULL,
		attempts       {int64} NOT NULL,
		failed_at_ns   {int64} NOT NULL,
		resolved       {int64} NOT NULL DEFAULT 0
	)`,
		// One open entry per projection and event: a redelivered poison event updates it.
		`CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (projection, event_id) WHERE resolved = 0`,
		`CREATE INDEX IF NOT EXISTS dead_letters_projection ON dead_letters (projection, resolved, id)`)
	if err != nil {
		return nil, err
	}
	return &DeadLetters{
		db: db,
		add: bind(d, `INSERT INTO dead_letters (projection, event_id, event_type, aggregate_id, aggregate_type, version,
			position, timestamp_ns, data, metadata, error, attempts, failed_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+
			d.OnConflict(Upsert{
				Key: []string{"projection", "event_id"}, KeyWhere: "resolved = 0",
				Set: []string{"attempts = dead_letters.attempts + excluded.attempts", "error = excluded.error", "failed_at_ns = excluded.failed_at_ns"},
			})+` RETURNING id`),
		byProj:  bind(d, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE projection = ? AND resolved = 0 ORDER BY id`),
		resolve: bind(d, `UPDATE dead_letters SET resolved = 1 WHERE id = ?`),
		retry:   bind(d, `UPDATE dead_letters SET attempts = attempts + 1 WHERE id = ? RETURNING `+deadLetterColumns),
	}, nil
}

// Add implements eventsource.DeadLetterQueue.
func (q *DeadLetters) Add(ctx context.Context, d eventsource.DeadLetter) (string, error) {
	e := d.Event
	meta, err := encodeMetadata(e.Metadata)
	if err != nil {
		return "", err
	}
	var id int64
	err = q.db.QueryRowContext(ctx, q.add, d.Projection, e.ID, e.Type, e.AggregateID, e.AggregateType, e.Version,
		e.Position, timeToNs(e.Timestamp), []byte(e.Data), meta, d.Error, d.Attempts, timeToNs(d.FailedAt)).Scan(&id)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// Get implements eventsource.DeadLetterQueue.
func (q *DeadLetters) Get(ctx context.Context, projection string) ([]eventsource.DeadLetter, error) {
	rows, err := q.db.QueryContext(ctx, q.byProj, projection)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventsource.DeadLetter
	for rows.Next() {
		d, err := scanDeadLetter(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Resolve implements eventsource.DeadLetterQueue.
func (q *DeadLetters) Resolve(ctx context.Context, id string) error {
	n, ok := parseID(id)
	if !ok {
		return eventsource.ErrDeadLetterNotFound
	}
	res, err := q.db.ExecContext(ctx, q.resolve, n)
	if err != nil {
		return err
	}
	if affected, err := res.RowsAffected(); err != nil {
		return err
	} else if affected == 0 {
		return eventsource.ErrDeadLetterNotFound
	}
	return nil
}

// Retry implements eventsource.DeadLetterQueue.
func (q *DeadLetters) Retry(ctx context.Context, id string) (eventsource.DeadLetter, error) {
	n, ok := parseID(id)
	if !ok {
		return eventsource.DeadLetter{}, eventsource.ErrDeadLetterNotFound
	}
	d, err := scanDeadLetter(q.db.QueryRowContext(ctx, q.retry, n))
	if errors.Is(err, sql.ErrNoRows) {
		return d, eventsource.ErrDeadLetterNotFound
	}
	return d, err
}

func scanDeadLetter(row interface{ Scan(...any) error }) (eventsource.DeadLetter, error) {
	var (
		d                eventsource.DeadLetter
		id, ts, failedAt int64
		resolved         int64
		data             []byte
		meta             sql.NullString
		e                = &d.Event
	)
	err := row.Scan(&id, &d.Projection, &e.ID, &e.Type, &e.AggregateID, &e.AggregateType, &e.Version, &e.Position,
		&ts, &data, &meta, &d.Error, &d.Attempts, &failedAt, &resolved)
	if err != nil {
		return d, err
	}
	d.ID = strconv.FormatInt(id, 10)
	e.Timestamp, d.FailedAt, d.Resolved = nsToTime(ts), nsToTime(failedAt), resolved != 0
	if len(data) > 0 {
		e.Data = data
	}
	e.Metadata, err = decodeMetadata(meta)
	return d, err
}
