package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"wrapped refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"bad conn", driver.ErrBadConn, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"sqlite busy", errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		{"sqlite constraint", errors.New("constraint failed: UNIQUE constraint failed: runs.id (1555)"), false},
		{"cancelled", context.Canceled, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Fatalf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestWithRetry(t *testing.T) {
	db := &DB{retry: RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	calls := 0
	err := db.withRetry(ctx, "op", func(context.Context) error {
		calls++
		if calls < 3 {
			return &pgconn.PgError{Code: "57P01"}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("recovering op: err %v after %d calls", err, calls)
	}
	calls = 0
	err = db.withRetry(ctx, "op", func(context.Context) error { calls++; return syscall.ECONNREFUSED })
	if !errors.Is(err, syscall.ECONNREFUSED) || calls != 3 {
		t.Fatalf("persistent failure: err %v after %d calls, want 3", err, calls)
	}
	calls = 0
	err = db.withRetry(ctx, "op", func(context.Context) error { calls++; return &pgconn.PgError{Code: "23505"} })
	if err == nil || calls != 1 {
		t.Fatalf("constraint violation retried: %d calls", calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls = 0
	_ = db.withRetry(cctx, "op", func(context.Context) error { calls++; return syscall.ECONNRESET })
	if calls != 1 {
		t.Fatalf("retried after the context ended: %d calls", calls)
	}
}
