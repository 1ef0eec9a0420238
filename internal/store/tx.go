package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"
)

// inTx runs fn in a transaction, retrying the whole transaction on a
// transient error. fn must not keep state between attempts.
func (db *DB) inTx(ctx context.Context, what string, fn func(ctx context.Context, tx bun.Tx) error) error {
	return db.withRetry(ctx, what, func(ctx context.Context) error {
		return db.Bun.RunInTx(ctx, &sql.TxOptions{}, fn)
	})
}

func (db *DB) utcNow() time.Time { return db.now().UTC() }
