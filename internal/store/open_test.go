package store

import (
	"context"
	"strings"
	"testing"
)

// A program that does not import store/sqlite (the lean receiver) gets a
// clear error, not a SQLite file, when no DATABASE_URL is set. Not
// parallel: it changes the registered backend for its duration.
func TestOpenWithoutSQLite(t *testing.T) {
	saved := sqliteBackend
	sqliteBackend = nil
	defer func() { sqliteBackend = saved }()
	dir := t.TempDir()
	db, err := Open(context.Background(), Config{DataDir: dir})
	if err == nil {
		db.Close()
		t.Fatal("opened a store without SQLite and without DATABASE_URL")
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("error does not say what to set: %v", err)
	}
}
