// Package sqlstore is the dead-letter queue, snapshot store and checkpoint
// store of the eventsource runtime on database/sql, written once for every
// SQL database: what differs between databases (bind parameters, column
// types, upsert syntax) is a Dialect: SQLite and PostgreSQL. The stores are
// plain; wrap them with eventsource.TraceDeadLetters and
// eventsource.TraceSnapshots for spans (sqlitestore and pgstore do). The
// transactional outbox (Outbox) is the exception: its rows are written
// inside an event store's append transaction, so it traces itself. The
// package needs no driver: the application opens the *sql.DB with its own.
package sqlstore

import (
	"strconv"
	"strings"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Kind is a kind of column the stores use.
type Kind int

// Column kinds.
const (
	Text Kind = iota
	Int64
	Bytes
	// Identity is a generated 64-bit integer primary key.
	Identity
)

// Upsert is an INSERT that updates the existing row when Key conflicts.
type Upsert struct {
	// Key is the conflict target: the primary key or a unique index's columns.
	Key []string
	// KeyWhere is the predicate of a partial unique index on Key, if it is one.
	KeyWhere string
	// Set are the assignments made to the existing row; excluded.<column> is
	// the value the INSERT carried, <table>.<column> the existing one.
	Set []string
	// Where, if set, updates the existing row only when it holds.
	Where string
}

// Dialect is what differs between SQL databases for these stores.
type Dialect interface {
	// System is the db.system span attribute value ("sqlite").
	System() string
	// Placeholder is the n-th (1-based) bind parameter of a statement.
	Placeholder(n int) string
	// Type is the column type for a kind of column.
	Type(k Kind) string
	// OnConflict is the clause appended to an INSERT to make it u.
	OnConflict(u Upsert) string
	// SkipLocked reports whether SELECT ... FOR UPDATE SKIP LOCKED works
	// (Outbox.ShareWithRelays).
	SkipLocked() bool
}

// SQLite is the dialect of SQLite 3.35 or later (upsert on partial indexes,
// RETURNING).
var SQLite Dialect = sqlite{}

type sqlite struct{}

func (sqlite) System() string         { return semconv.DBSystemSQLite }
func (sqlite) Placeholder(int) string { return "?" }

func (sqlite) Type(k Kind) string {
	switch k {
	case Int64:
		return "INTEGER"
	case Bytes:
		return "BLOB"
	case Identity:
		return "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	return "TEXT"
}

func (sqlite) OnConflict(u Upsert) string { return onConflict(u) }
func (sqlite) SkipLocked() bool           { return false }

// PostgreSQL is the dialect of PostgreSQL 10 or later (identity columns).
// Open the *sql.DB with a PostgreSQL driver that takes $n parameters, e.g.
// github.com/jackc/pgx/v5/stdlib ("pgx"); package pgstore does.
var PostgreSQL Dialect = postgresql{}

type postgresql struct{}

func (postgresql) System() string           { return semconv.DBSystemPostgreSQL }
func (postgresql) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

func (postgresql) Type(k Kind) string {
	switch k {
	case Int64:
		return "BIGINT"
	case Bytes:
		return "BYTEA"
	case Identity:
		return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	return "TEXT"
}

func (postgresql) OnConflict(u Upsert) string { return onConflict(u) }
func (postgresql) SkipLocked() bool           { return true }

// onConflict renders the ON CONFLICT clause SQLite and PostgreSQL share.
func onConflict(u Upsert) string {
	var b strings.Builder
	b.WriteString(" ON CONFLICT (")
	b.WriteString(strings.Join(u.Key, ", "))
	b.WriteString(")")
	if u.KeyWhere != "" {
		b.WriteString(" WHERE " + u.KeyWhere)
	}
	b.WriteString(" DO UPDATE SET " + strings.Join(u.Set, ", "))
	if u.Where != "" {
		b.WriteString(" WHERE " + u.Where)
	}
	return b.String()
}

// bind rewrites the ? bind parameters of a statement written once into the
// dialect's own (none of these statements has a ? inside a literal).
func bind(d Dialect, stmt string) string {
	if d.Placeholder(1) == "?" {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// schema expands {text}, {int64}, {bytes} and {identity} into d's types.
func schema(d Dialect, ddl string) string {
	return strings.NewReplacer(
		"{text}", d.Type(Text), "{int64}", d.Type(Int64),
		"{bytes}", d.Type(Bytes), "{identity}", d.Type(Identity),
	).Replace(ddl)
}

func parseID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil
}
