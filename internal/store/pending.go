package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// PendingSpec is a spec generated from a description that runs code its
// author chose (postInstall scripts, dotfiles): it was shown on issue or
// pull request Number and is built only when a user with write access
// confirms it by its hash ("/build confirm <hash>"). The run it makes is
// the one it would have made at once: the same spec, ref and head commit.
type PendingSpec struct {
	bun.BaseModel `bun:"table:pending_specs,alias:ps"`

	ID             int64      `bun:"id,pk,autoincrement"`
	InstallationID int64      `bun:"installation_id,notnull"`
	Repo           string     `bun:"repo,notnull"`
	Number         int        `bun:"number,notnull"`
	SpecHash       string     `bun:"spec_hash,notnull"` // SpecHash(SpecSource)
	SpecSource     string     `bun:"spec_source,notnull"`
	Prompt         string     `bun:"prompt,notnull"`
	Ref            string     `bun:"ref,notnull"`
	HeadSHA        string     `bun:"head_sha,notnull"`
	PRFlag         bool       `bun:"pr_flag,notnull"`
	DefaultBranch  string     `bun:"default_branch,notnull"`
	RequestedBy    string     `bun:"requested_by,notnull"`
	DeliveryRowID  int64      `bun:"delivery_row_id,notnull"`
	CreatedAt      time.Time  `bun:"created_at,notnull"`
	ConfirmedBy    string     `bun:"confirmed_by,notnull"`
	ConfirmedAt    *time.Time `bun:"confirmed_at"`
}

// SpecHash is the hex SHA-256 of a spec's source: what "/build confirm"
// names.
func SpecHash(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])
}

// PendingSpecTTL is how long a generated spec waits for its confirmation.
const PendingSpecTTL = 7 * 24 * time.Hour

// PendingSpecs returns the unconfirmed specs of issue or pull request
// number in repo of installation whose hash starts with prefix (lower-case
// hex), generated within PendingSpecTTL, newest first, at most two (two
// mean the prefix is ambiguous).
func (db *DB) PendingSpecs(ctx context.Context, installationID int64, repo string, number int, prefix string) ([]PendingSpec, error) {
	if prefix == "" || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, nil // never a LIKE pattern of the caller's making
	}
	var out []PendingSpec
	err := db.withRetry(ctx, "pending specs", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewSelect().Model(&out).
			Where("installation_id = ? AND repo = ? AND number = ? AND confirmed_at IS NULL", installationID, repo, number).
			Where("spec_hash LIKE ?", prefix+"%").Where("created_at > ?", db.utcNow().Add(-PendingSpecTTL)).
			OrderExpr("id DESC").Limit(2).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("read pending specs: %w", err)
	}
	return out, nil
}

// recordPending writes r's pending spec and confirmation in tx. A spec
// confirmed meanwhile (two confirmations at once) is confirmed once: the
// later decision builds nothing.
func recordPending(ctx context.Context, tx bun.Tx, now time.Time, r *Intent) error {
	if p := r.Pending; p != nil {
		row := *p
		row.ID, row.CreatedAt, row.ConfirmedBy, row.ConfirmedAt = 0, now, "", nil
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return fmt.Errorf("record pending spec: %w", err)
		}
	}
	if c := r.Confirm; c != nil {
		res, err := tx.NewUpdate().Model((*PendingSpec)(nil)).Set("confirmed_by = ?", c.By).Set("confirmed_at = ?", now).
			Where("id = ? AND confirmed_at IS NULL", c.ID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("confirm pending spec %d: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("confirm pending spec %d: %w", c.ID, err)
		} else if n == 0 {
			r.Run, r.Logs = nil, nil
			r.Outcome, r.Reason = OutcomeIgnored, "the spec was confirmed already"
		}
	}
	return nil
}
