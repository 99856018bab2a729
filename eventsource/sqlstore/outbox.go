package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Outbox is the transactional outbox in the event_outbox table (the name
// and status values eventsource-py uses). An event store writes its rows
// with AddTx inside the transaction that appends the events; an
// eventsource.OutboxRelay reads and marks them through the
// eventsource.Outbox methods. Unlike the other stores here it is traced
// itself (eventsource.outbox.* spans with the dialect's db.system), because
// AddTx runs inside the store's transaction.
type Outbox struct {
	db                                  *sql.DB
	instr                               *eventsource.OutboxInstrumentation
	insert, pending, mark, retry, clean string
	fail, failed, requeue               string
	claim                               string        // "": no claims (the dialect cannot skip locked rows)
	lease                               time.Duration // > 0: GetPending claims rows (ShareWithRelays)
}

var (
	_ eventsource.Outbox            = (*Outbox)(nil)
	_ eventsource.OutboxDeadLetters = (*Outbox)(nil)
	_ eventsource.OutboxStatter     = (*Outbox)(nil)
)

const outboxColumns = `id, event_id, event_type, aggregate_id, aggregate_type, version, position,
	timestamp_ns, data, metadata, retry_count, last_error`

// NewOutbox creates the event_outbox table if needed.
func NewOutbox(ctx context.Context, db *sql.DB, d Dialect, opts ...eventsource.Option) (*Outbox, error) {
	err := createSchema(ctx, db, d, `CREATE TABLE IF NOT EXISTS event_outbox (
		id              {identity},
		event_id        {text}  NOT NULL,
		event_type      {text}  NOT NULL,
		aggregate_id    {text}  NOT NULL,
		aggregate_type  {text}  NOT NULL,
		version         {int64} NOT NULL,
		position        {int64} NOT NULL,
		timestamp_ns    {int64} NOT NULL,
		data            {bytes},
		metadata        {text},
		created_at_ns   {int64} NOT NULL,
		status          {text}  NOT NULL DEFAULT 'pending',
		published_at_ns {int64},
		retry_count     {int64} NOT NULL DEFAULT 0,
		last_error      {text}
	)`,
		`CREATE INDEX IF NOT EXISTS event_outbox_pending ON event_outbox (id) WHERE status = 'pending'`)
	if err != nil {
		return nil, err
	}
	var claim string
	if d.SkipLocked() {
		// Added, not created: outbox tables made before claims existed get the column too.
		if _, err := db.ExecContext(ctx, schema(d, `ALTER TABLE event_outbox ADD COLUMN IF NOT EXISTS claimed_until_ns {int64}`)); err != nil {
			return nil, err
		}
		claim = bind(d, `UPDATE event_outbox SET claimed_until_ns = ? WHERE id IN (
			SELECT id FROM event_outbox WHERE status = 'pending' AND (claimed_until_ns IS NULL OR claimed_until_ns < ?)
			ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING `+outboxColumns)
	}
	return &Outbox{
		db:    db,
		instr: eventsource.NewOutboxInstrumentation(d.System(), opts...),
		insert: bind(d, `INSERT INTO event_outbox (event_id, event_type, aggregate_id, aggregate_type, version, position,
			timestamp_ns, data, metadata, created_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		pending: bind(d, `SELECT `+outboxColumns+` FROM event_outbox WHERE status = 'pending' ORDER BY id LIMIT ?`),
		mark:    bind(d, `UPDATE event_outbox SET status = 'published', published_at_ns = ? WHERE id = ? AND status = 'pending'`),
		retry:   bind(d, `UPDATE event_outbox SET retry_count = retry_count + 1, last_error = ?`+release(d)+` WHERE id = ? AND status = 'pending'`),
		clean:   bind(d, `DELETE FROM event_outbox WHERE status = 'published' AND published_at_ns < ?`),
		fail: bind(d, `UPDATE event_outbox SET status = 'failed', retry_count = retry_count + 1, last_error = ?
			WHERE id = ? AND status = 'pending'`),
		failed:  bind(d, `SELECT `+outboxColumns+` FROM event_outbox WHERE status = 'failed' ORDER BY id LIMIT ?`),
		requeue: bind(d, `UPDATE event_outbox SET status = 'pending', retry_count = 0`+release(d)+` WHERE id = ? AND status = 'failed'`),
		claim:   claim,
	}, nil
}

// release is the assignment that gives a row's claim back, where rows are claimed.
func release(d Dialect) string {
	if d.SkipLocked() {
		return ", claimed_until_ns = NULL"
	}
	return ""
}

// ShareWithRelays lets several relays (in one process or several) publish
// from this outbox at once: GetPending claims the rows it returns for lease
// (SELECT ... FOR UPDATE SKIP LOCKED), so each row goes to one relay; a
// failed publish gives its rows back at once, and the rows of a relay that
// died are taken by another once the lease ends (published again: at least
// once). The price is order: each relay keeps its own batches in order, but
// relays run side by side, and the rows of a relay that died wait out the
// lease while later ones go ahead. Without it (the default) one relay at a
// time publishes every row in append order. It fails on a dialect that
// cannot skip locked rows (SQLite: one writer at a time anyway).
func (o *Outbox) ShareWithRelays(lease time.Duration) error {
	if o.claim == "" {
		return errors.New("sqlstore: this database cannot skip locked rows: one relay at a time")
	}
	if lease <= 0 {
		return errors.New("sqlstore: ShareWithRelays needs a lease > 0")
	}
	o.lease = lease
	return nil
}

// AddTx writes one pending row per stored event (positions assigned) in
// the caller's transaction.
func (o *Outbox) AddTx(ctx context.Context, tx *sql.Tx, events []eventsource.Event) error {
	stmt, err := tx.PrepareContext(ctx, o.insert)
	if err != nil {
		return err
	}
	defer stmt.Close()
	now := timeToNs(time.Now())
	for _, e := range events {
		meta, err := encodeMetadata(e.Metadata)
		if err != nil {
			return err
		}
		var data []byte
		if len(e.Data) > 0 {
			data = e.Data
		}
		actx, span := o.instr.StartAdd(ctx, e)
		_, err = stmt.ExecContext(actx, e.ID, e.Type, e.AggregateID, e.AggregateType, e.Version, e.Position,
			timeToNs(e.Timestamp), data, meta, now)
		o.instr.End(span, err)
		if err != nil {
			return err
		}
	}
	return nil
}

// GetPending implements eventsource.Outbox.
func (o *Outbox) GetPending(ctx context.Context, limit int) (_ []eventsource.OutboxEntry, err error) {
	ctx, span := o.instr.StartGetPending(ctx, limit)
	var out []eventsource.OutboxEntry
	defer func() { o.instr.EndGetPending(span, len(out), err) }()
	if o.lease > 0 {
		now := time.Now()
		out, err = o.entries(ctx, o.claim, timeToNs(now.Add(o.lease)), timeToNs(now), limit)
		slices.SortFunc(out, func(a, b eventsource.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) }) // RETURNING has no order
		return out, err
	}
	out, err = o.entries(ctx, o.pending, limit)
	return out, err
}

// entries runs a SELECT of outboxColumns.
func (o *Outbox) entries(ctx context.Context, query string, args ...any) (out []eventsource.OutboxEntry, err error) {
	rows, err := o.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			en      eventsource.OutboxEntry
			e       = &en.Event
			ts      int64
			data    []byte
			meta    sql.NullString
			lastErr sql.NullString
		)
		if err := rows.Scan(&en.ID, &e.ID, &e.Type, &e.AggregateID, &e.AggregateType, &e.Version, &e.Position,
			&ts, &data, &meta, &en.Attempts, &lastErr); err != nil {
			return nil, err
		}
		e.Timestamp, en.LastError = nsToTime(ts), lastErr.String
		if len(data) > 0 {
			e.Data = data
		}
		if e.Metadata, err = decodeMetadata(meta); err != nil {
			return nil, err
		}
		out = append(out, en)
	}
	return out, rows.Err()
}

// MarkPublished implements eventsource.Outbox: one transaction, one
// eventsource.outbox.mark_published span per entry.
func (o *Outbox) MarkPublished(ctx context.Context, ids []int64) (err error) {
	if len(ids) == 0 {
		return nil
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	now := timeToNs(time.Now())
	for _, id := range ids {
		sctx, span := o.instr.StartMarkPublished(ctx, id)
		_, err := tx.ExecContext(sctx, o.mark, now, id)
		o.instr.End(span, err)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// IncrementRetry implements eventsource.Outbox.
func (o *Outbox) IncrementRetry(ctx context.Context, id int64, publishErr string) error {
	ctx, span := o.instr.StartIncrementRetry(ctx, id, publishErr)
	_, err := o.db.ExecContext(ctx, o.retry, publishErr, id)
	o.instr.End(span, err)
	return err
}

// MarkFailed implements eventsource.Outbox: the row's status becomes
// 'failed' (eventsource-py's), its error and attempt kept.
func (o *Outbox) MarkFailed(ctx context.Context, id int64, publishErr string) error {
	ctx, span := o.instr.StartMarkFailed(ctx, id, publishErr)
	_, err := o.db.ExecContext(ctx, o.fail, publishErr, id)
	o.instr.End(span, err)
	return err
}

// Failed implements eventsource.OutboxDeadLetters.
func (o *Outbox) Failed(ctx context.Context, limit int) ([]eventsource.OutboxEntry, error) {
	return o.entries(ctx, o.failed, limit)
}

// Requeue implements eventsource.OutboxDeadLetters, in one transaction; the
// last error stays on the row until the next attempt replaces it.
func (o *Outbox) Requeue(ctx context.Context, ids []int64) (n int64, err error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, o.requeue, id)
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, tx.Commit()
}

// Stats implements eventsource.OutboxStatter: one query, an
// eventsource.outbox.get_stats span.
func (o *Outbox) Stats(ctx context.Context) (st eventsource.OutboxStats, err error) {
	ctx, span := o.instr.StartGetStats(ctx)
	defer func() { o.instr.End(span, err) }()
	rows, err := o.db.QueryContext(ctx, `SELECT status, COUNT(*), MIN(created_at_ns) FROM event_outbox GROUP BY status`)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status string
			n      int64
			oldest sql.NullInt64
		)
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return st, err
		}
		switch status {
		case "pending":
			st.Pending = n
			if oldest.Valid {
				st.OldestPending = nsToTime(oldest.Int64)
			}
		case "failed":
			st.Failed = n
		case "published":
			st.Published = n
		}
	}
	return st, rows.Err()
}

// Cleanup deletes the rows published more than olderThanDays days ago and
// returns how many: published rows are kept only for inspection, so call it
// now and then to bound the table (0 deletes every published row).
func (o *Outbox) Cleanup(ctx context.Context, olderThanDays int) (deleted int64, err error) {
	ctx, span := o.instr.StartCleanup(ctx, olderThanDays)
	defer func() { o.instr.EndCleanup(span, deleted, err) }()
	cutoff := time.Now().Add(-time.Duration(olderThanDays) * 24 * time.Hour)
	res, err := o.db.ExecContext(ctx, o.clean, timeToNs(cutoff)+1)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Pending counts the pending rows (for tests and health checks).
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM event_outbox WHERE status = 'pending'`).Scan(&n)
	return n, err
}
