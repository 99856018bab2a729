package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as Unix nanoseconds; 0 is the zero time.
func timeToNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nsToTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func encodeMetadata(m map[string]string) (sql.NullString, error) {
	if len(m) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(m)
	return sql.NullString{String: string(b), Valid: true}, err
}

func decodeMetadata(s sql.NullString) (map[string]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("sqlstore: bad event metadata: %w", err)
	}
	return m, nil
}

// createSchema runs DDL statements one by one (some drivers take only one
// statement per call).
func createSchema(ctx context.Context, db *sql.DB, d Dialect, stmts ...string) error {
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, schema(d, s)); err != nil {
			return fmt.Errorf("sqlstore: creating schema: %w", err)
		}
	}
	return nil
}
