package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Checkpoints is an eventsource.CheckpointStore in the checkpoints table.
// Keep it in the database of the read model it tracks when you can, so the
// two move together.
type Checkpoints struct {
	db                *sql.DB
	get, update, drop string
}

var _ eventsource.CheckpointStore = (*Checkpoints)(nil)

// NewCheckpoints creates the checkpoints table if needed.
func NewCheckpoints(ctx context.Context, db *sql.DB, d Dialect) (*Checkpoints, error) {
	err := createSchema(ctx, db, d, `CREATE TABLE IF NOT EXISTS checkpoints (
		projection {text}  PRIMARY KEY,
		position   {int64} NOT NULL
	)`)
	if err != nil {
		return nil, err
	}
	return &Checkpoints{
		db:  db,
		get: bind(d, `SELECT position FROM checkpoints WHERE projection = ?`),
		update: bind(d, `INSERT INTO checkpoints (projection, position) VALUES (?, ?)`+
			d.OnConflict(Upsert{Key: []string{"projection"}, Set: []string{"position = excluded.position"}})),
		drop: bind(d, `DELETE FROM checkpoints WHERE projection = ?`),
	}, nil
}

// GetCheckpoint implements eventsource.CheckpointStore.
func (c *Checkpoints) GetCheckpoint(ctx context.Context, projection string) (int64, error) {
	var pos int64
	err := c.db.QueryRowContext(ctx, c.get, projection).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// UpdateCheckpoint implements eventsource.CheckpointStore.
func (c *Checkpoints) UpdateCheckpoint(ctx context.Context, projection string, position int64) error {
	_, err := c.db.ExecContext(ctx, c.update, projection, position)
	return err
}

// ResetCheckpoint implements eventsource.CheckpointStore.
func (c *Checkpoints) ResetCheckpoint(ctx context.Context, projection string) error {
	_, err := c.db.ExecContext(ctx, c.drop, projection)
	return err
}
