package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// AddArtifact records an artifact of a run; recording the same name again
// replaces the row (a retried upload).
func (db *DB) AddArtifact(ctx context.Context, a *Artifact) error {
	return db.inTx(ctx, "add artifact", func(ctx context.Context, tx bun.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		a.ID = 0
		a.CreatedAt = db.utcNow()
		if a.ExpiresAt != nil {
			t := a.ExpiresAt.UTC()
			a.ExpiresAt = &t
		}
		_, err := tx.NewInsert().Model(a).
			On("CONFLICT (run_id, name) DO UPDATE").
			Set("type = EXCLUDED.type, object_key = EXCLUDED.object_key, location = EXCLUDED.location, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, url = EXCLUDED.url, expires_at = EXCLUDED.expires_at").
			Returning("id").Exec(ctx)
		return err
	})
}

// Artifacts returns the artifacts of run id by name.
func (db *DB) Artifacts(ctx context.Context, runID int64) ([]Artifact, error) {
	var out []Artifact
	err := db.withRetry(ctx, "list artifacts", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewSelect().Model(&out).Where("run_id = ?", runID).OrderExpr("name").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiredArtifacts returns up to limit artifacts whose expiry is before at.
func (db *DB) ExpiredArtifacts(ctx context.Context, at time.Time, limit int) ([]Artifact, error) {
	var out []Artifact
	err := db.withRetry(ctx, "expired artifacts", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewSelect().Model(&out).Where("expires_at IS NOT NULL AND expires_at < ?", at.UTC()).
			OrderExpr("expires_at, id").Limit(int64(limit)).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteArtifacts deletes artifact rows by id.
func (db *DB) DeleteArtifacts(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return db.withRetry(ctx, "delete artifacts", func(ctx context.Context) error {
		_, err := db.Bun.NewDelete().Model((*Artifact)(nil)).Where("id IN (?)", bun.List(ids)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete artifacts: %w", err)
		}
		return nil
	})
}
