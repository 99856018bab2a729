package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Snapshots is an eventsource.SnapshotStore in the snapshots table, one row
// per aggregate.
type Snapshots struct {
	db                     *sql.DB
	save, get, del, exists string
}

var _ eventsource.SnapshotStore = (*Snapshots)(nil)

// NewSnapshots creates the snapshots table if needed.
func NewSnapshots(ctx context.Context, db *sql.DB, d Dialect) (*Snapshots, error) {
	err := createSchema(ctx, db, d, `CREATE TABLE IF NOT EXISTS snapshots (
		aggregate_id   {text}  PRIMARY KEY,
		aggregate_type {text}  NOT NULL,
		version        {int64} NOT NULL,
		state          {bytes},
		created_at_ns  {int64} NOT NULL
	)`)
	if err != nil {
		return nil, err
	}
	return &Snapshots{
		db: db,
		save: bind(d, `INSERT INTO snapshots (aggregate_id, aggregate_type, version, state, created_at_ns) VALUES (?, ?, ?, ?, ?)`+
			d.OnConflict(Upsert{
				Key: []string{"aggregate_id"},
				Set: []string{"aggregate_type = excluded.aggregate_type", "version = excluded.version",
					"state = excluded.state", "created_at_ns = excluded.created_at_ns"},
				// An older snapshot, saved late, never replaces a newer one.
				Where: "snapshots.version <= excluded.version",
			})),
		get:    bind(d, `SELECT aggregate_type, version, state, created_at_ns FROM snapshots WHERE aggregate_id = ?`),
		del:    bind(d, `DELETE FROM snapshots WHERE aggregate_id = ?`),
		exists: bind(d, `SELECT COUNT(*) FROM snapshots WHERE aggregate_id = ?`),
	}, nil
}

// SaveSnapshot implements eventsource.SnapshotStore.
func (s *Snapshots) SaveSnapshot(ctx context.Context, snap eventsource.Snapshot) error {
	_, err := s.db.ExecContext(ctx, s.save, snap.AggregateID, snap.AggregateType, snap.Version, snap.State, timeToNs(snap.CreatedAt))
	return err
}

// GetSnapshot implements eventsource.SnapshotStore.
func (s *Snapshots) GetSnapshot(ctx context.Context, aggregateID string) (eventsource.Snapshot, bool, error) {
	snap := eventsource.Snapshot{AggregateID: aggregateID}
	var created int64
	err := s.db.QueryRowContext(ctx, s.get, aggregateID).Scan(&snap.AggregateType, &snap.Version, &snap.State, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return eventsource.Snapshot{}, false, nil
	}
	if err != nil {
		return eventsource.Snapshot{}, false, err
	}
	snap.CreatedAt = nsToTime(created)
	return snap, true, nil
}

// DeleteSnapshot implements eventsource.SnapshotStore.
func (s *Snapshots) DeleteSnapshot(ctx context.Context, aggregateID string) error {
	_, err := s.db.ExecContext(ctx, s.del, aggregateID)
	return err
}

// SnapshotExists implements eventsource.SnapshotStore.
func (s *Snapshots) SnapshotExists(ctx context.Context, aggregateID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.exists, aggregateID).Scan(&n)
	return n > 0, err
}
