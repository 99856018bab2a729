package sqlstore

import "testing"

// numbered is a dialect with numbered bind parameters, to check the one
// rewrite a second dialect relies on.
type numbered struct{ sqlite }

func (numbered) Placeholder(n int) string { return "$" + string(rune('0'+n)) }

func TestBindNumbersPlaceholders(t *testing.T) {
	got := bind(numbered{}, `UPDATE t SET a = ? WHERE b = ? AND c = ?`)
	if want := `UPDATE t SET a = $1 WHERE b = $2 AND c = $3`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := bind(SQLite, `SELECT ?`); got != `SELECT ?` {
		t.Fatalf("SQLite rewrote its own placeholders: %q", got)
	}
}

func TestOnConflict(t *testing.T) {
	got := SQLite.OnConflict(Upsert{Key: []string{"a", "b"}, KeyWhere: "r = 0", Set: []string{"x = excluded.x"}, Where: "t.v <= excluded.v"})
	if want := ` ON CONFLICT (a, b) WHERE r = 0 DO UPDATE SET x = excluded.x WHERE t.v <= excluded.v`; got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestPostgreSQLDialect(t *testing.T) {
	got := bind(PostgreSQL, `SELECT a FROM t WHERE b = ? AND c = ? AND d = ? AND e = ? AND f = ? AND g = ? AND h = ? AND i = ? AND j = ? AND k = ?`)
	if want := `SELECT a FROM t WHERE b = $1 AND c = $2 AND d = $3 AND e = $4 AND f = $5 AND g = $6 AND h = $7 AND i = $8 AND j = $9 AND k = $10`; got != want {
		t.Fatalf("got %q", got)
	}
	if got := schema(PostgreSQL, `{identity}, {int64}, {bytes}, {text}`); got != `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, BIGINT, BYTEA, TEXT` {
		t.Fatalf("got %q", got)
	}
	if PostgreSQL.System() != "postgresql" {
		t.Fatal(PostgreSQL.System())
	}
}
