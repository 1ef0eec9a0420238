package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
)

// pgURL is the server the PostgreSQL half of the suite runs against.
func pgURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// clock is an injectable clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newPostgres opens a fresh schema on the test server, so tests run in
// parallel without seeing each other's rows. Under CI=true an unreachable
// server fails the test; elsewhere it skips.
func newPostgres(t testing.TB, c *clock) *DB {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", pgURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is not reachable: %v", pgURL(), err)
		}
		t.Skipf("PostgreSQL at %s is not reachable: %v", pgURL(), err)
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
		a, err := sql.Open("pgx", pgURL())
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(pgURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return openAndMigrate(t, Config{URL: u.String(), Now: nowFunc(c)})
}

func newSQLite(t testing.TB, c *clock) *DB {
	t.Helper()
	return openAndMigrate(t, Config{DataDir: t.TempDir(), Now: nowFunc(c)})
}

func nowFunc(c *clock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.now
}

func openAndMigrate(t testing.TB, cfg Config) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
		t.Fatal(err)
	}
	return db
}

// forEachDB runs the same test against PostgreSQL and SQLite.
func forEachDB(t *testing.T, fn func(t *testing.T, db *DB, c *clock)) {
	t.Helper()
	for _, d := range []struct {
		name string
		open func(testing.TB, *clock) *DB
	}{{"postgres", newPostgres}, {"sqlite", newSQLite}} {
		t.Run(d.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
			fn(t, d.open(t, c), c)
		})
	}
}
