package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/linux-builder/linux-builder/internal/logging"
)

// RetryPolicy is exponential backoff for transient errors.
type RetryPolicy struct {
	Attempts int           // total tries, including the first
	Base     time.Duration // wait before the second try; doubles each time
	Max      time.Duration // cap on one wait
}

// DefaultRetry tries three times: now, after ~100ms, after ~200ms.
var DefaultRetry = RetryPolicy{Attempts: 3, Base: 100 * time.Millisecond, Max: 2 * time.Second}

// Transient reports whether err is worth retrying: the connection failed
// or the server asked the client to try again. Constraint violations and
// other errors of the statement itself are never transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		}
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	// modernc.org/sqlite reports a locked database in its message.
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset by peer")
}

// withRetry runs fn until it succeeds, fails with a non-transient error, or
// runs out of attempts. fn must be safe to repeat: a transaction that is
// retried starts over.
func (db *DB) withRetry(ctx context.Context, what string, fn func(context.Context) error) error {
	p := db.retry
	var err error
	for attempt := 1; ; attempt++ {
		err = fn(ctx)
		if err == nil || !Transient(err) || attempt >= p.Attempts || ctx.Err() != nil {
			break
		}
		wait := min(p.Base<<(attempt-1), p.Max)
		wait = wait/2 + rand.N(wait/2+1) // jitter, so retries of many callers spread out
		db.log.WarnContext(ctx, "transient database error; retrying", "op", what, "attempt", attempt, "wait", wait, logging.KeyErr, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (while retrying: %w)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
