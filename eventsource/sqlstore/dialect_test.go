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
