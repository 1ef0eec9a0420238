// Package sqlite plugs SQLite into the store: importing it (for its side
// effect) lets store.Open use SQLite when no DATABASE_URL is given. The
// all-in-one bot imports it; the lean webhook receiver does not, so it
// links none of SQLite (about 2 MB of code) and needs PostgreSQL, which
// is what a receiver apart from its workers shares them through anyway.
package sqlite

import (
	"database/sql"
	"net/url"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/schema"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/linux-builder/linux-builder/internal/store"
)

func init() {
	store.RegisterSQLite(store.SQLiteBackend{
		Open: func(path string) (*sql.DB, error) {
			return sql.Open("sqlite", dsn(path))
		},
		Dialect: func() schema.Dialect { return sqlitedialect.New() },
		River:   func(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riversqlite.New(db) },
	})
}

func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}
