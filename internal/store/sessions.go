package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// WebSession is a person signed in with GitHub on the run pages. The
// cookie carries a random secret; ID is its sha256, so the table alone
// signs nobody in.
type WebSession struct {
	bun.BaseModel `bun:"table:web_sessions,alias:ws"`

	ID        string    `bun:"id,pk"`
	Login     string    `bun:"login,notnull"`
	UserID    int64     `bun:"user_id,notnull"`
	CSRF      string    `bun:"csrf,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	ExpiresAt time.Time `bun:"expires_at,notnull"`
}

// SessionID is the row id of a session cookie's secret.
func SessionID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateSession records s (its ID already SessionID of the cookie's
// secret).
func (db *DB) CreateSession(ctx context.Context, s *WebSession) error {
	if s.ID == "" || s.Login == "" || s.CSRF == "" {
		return errors.New("create session: id, login and csrf are required")
	}
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return db.withRetry(ctx, "create session", func(ctx context.Context) error {
		_, err := db.Bun.NewInsert().Model(s).Exec(ctx)
		return err
	})
}

// Session returns the unexpired session of the cookie secret secret at
// now; ErrNotFound when there is none (unknown, signed out or expired).
func (db *DB) Session(ctx context.Context, secret string, now time.Time) (*WebSession, error) {
	var s WebSession
	err := db.withRetry(ctx, "get session", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&s).Where("id = ?", SessionID(secret)).Where("expires_at > ?", now.UTC()).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, "session")
	}
	return &s, nil
}

// DeleteSession signs the session of secret out (no error when it is
// already gone).
func (db *DB) DeleteSession(ctx context.Context, secret string) error {
	return db.withRetry(ctx, "delete session", func(ctx context.Context) error {
		_, err := db.Bun.NewDelete().Model((*WebSession)(nil)).Where("id = ?", SessionID(secret)).Exec(ctx)
		return err
	})
}

// DeleteExpiredSessions deletes up to limit sessions expired at now and
// returns how many went.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	var n int64
	err := db.withRetry(ctx, "delete expired sessions", func(ctx context.Context) error {
		ids := db.Bun.NewSelect().Model((*WebSession)(nil)).Column("id").Where("expires_at <= ?", now.UTC()).Limit(int64(limit))
		res, err := db.Bun.NewDelete().Model((*WebSession)(nil)).Where("id IN (?)", ids).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expired sessions: %w", err)
	}
	return n, nil
}
