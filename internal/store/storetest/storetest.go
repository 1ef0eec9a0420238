// Package storetest opens throw-away stores for tests: a fresh schema on
// the test PostgreSQL server, or a SQLite file in a temporary directory.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/store"
	_ "github.com/linux-builder/linux-builder/internal/store/sqlite" // the SQLite half of ForEach
)

// PostgresURL is the server the PostgreSQL half of the suite runs against.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Clock is an injectable clock that tests move by hand.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// Postgres opens a fresh schema on the test server, so tests run in
// parallel without seeing each other's rows. Under CI=true an unreachable
// server fails the test; elsewhere it skips.
func Postgres(t testing.TB, c *Clock) *store.DB {
	t.Helper()
	db := open(t, postgresConfig(t, c))
	migrateUp(t, db)
	return db
}

// PostgresUnmigrated is Postgres without the migrations: an empty schema,
// as a database nobody migrated.
func PostgresUnmigrated(t testing.TB) *store.DB {
	t.Helper()
	return open(t, postgresConfig(t, nil))
}

// SQLiteUnmigrated is SQLite without the migrations.
func SQLiteUnmigrated(t testing.TB) *store.DB {
	t.Helper()
	return open(t, store.Config{DataDir: t.TempDir(), Logger: quiet})
}

// postgresConfig makes a fresh schema on the test server and returns the
// store configuration that uses it.
func postgresConfig(t testing.TB, c *Clock) store.Config {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is not reachable: %v", PostgresURL(), err)
		}
		t.Skipf("PostgreSQL at %s is not reachable: %v", PostgresURL(), err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "lbtest_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", PostgresURL())
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return store.Config{URL: u.String(), Now: nowFunc(c), Logger: quiet}
}

// SQLite opens a migrated store in a temporary directory.
func SQLite(t testing.TB, c *Clock) *store.DB {
	t.Helper()
	db := open(t, store.Config{DataDir: t.TempDir(), Now: nowFunc(c), Logger: quiet})
	migrateUp(t, db)
	return db
}

func nowFunc(c *Clock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}

func open(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrateUp(t testing.TB, db *store.DB) {
	t.Helper()
	if _, err := db.MigrateUp(context.Background(), linuxbuilder.Migrations); err != nil {
		t.Fatal(err)
	}
}

// ForEach runs the same test against PostgreSQL and SQLite, each with its
// own clock starting at 2026-11-26 12:00 UTC.
func ForEach(t *testing.T, fn func(t *testing.T, db *store.DB, c *Clock)) {
	t.Helper()
	for _, d := range []struct {
		name string
		open func(testing.TB, *Clock) *store.DB
	}{{"postgres", Postgres}, {"sqlite", SQLite}} {
		t.Run(d.name, func(t *testing.T) {
			c := &Clock{T: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
			fn(t, d.open(t, c), c)
		})
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
