package store

import (
	"context"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// RunHead is the part of a run that changes while it goes: what the live
// event streams (package live) poll, without the spec and the rest of the
// row.
type RunHead struct {
	ID            int64      `bun:"id"`
	Status        run.Status `bun:"status"`
	Step          run.State  `bun:"step"`
	UpdatedAt     time.Time  `bun:"updated_at"`
	FailureReason string     `bun:"failure_reason"`
	RetryReason   string     `bun:"retry_reason"`
	BuildDuration int64      `bun:"build_duration_ms"`
}

const runHeadColumns = "id, status, step, updated_at, failure_reason, retry_reason, build_duration_ms"

// RunHeadOf returns the head of run id (ErrNotFound when there is none).
func (db *DB) RunHeadOf(ctx context.Context, id int64) (*RunHead, error) {
	var out []RunHead
	err := db.withRetry(ctx, "run head", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewRaw(`SELECT `+runHeadColumns+` FROM runs WHERE id = ?`, id).Scan(ctx, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("run head %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	h := out[0]
	h.UpdatedAt = h.UpdatedAt.UTC()
	return &h, nil
}

// RunsChangedSince returns the heads of runs updated after (since,
// afterID) in (updated_at, id) order — a keyset page of at most limit
// (1..1000; other values mean 1000) rows. Runs whose updated_at equals
// since come after afterID only, so paging with the last row's pair
// neither repeats nor skips a row.
func (db *DB) RunsChangedSince(ctx context.Context, since time.Time, afterID int64, limit int) ([]RunHead, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	since = since.UTC()
	var out []RunHead
	err := db.withRetry(ctx, "runs changed", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewRaw(`SELECT `+runHeadColumns+` FROM runs WHERE updated_at > ? OR (updated_at = ? AND id > ?) ORDER BY updated_at, id LIMIT ?`,
			since, since, afterID, limit).Scan(ctx, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("runs changed since %s: %w", since.Format(time.RFC3339Nano), err)
	}
	for i := range out {
		out[i].UpdatedAt = out[i].UpdatedAt.UTC()
	}
	return out, nil
}

// LastLogID is the id of run id's newest log line (0 when it has none).
func (db *DB) LastLogID(ctx context.Context, runID int64) (int64, error) {
	var ids []int64
	err := db.withRetry(ctx, "last log id", func(ctx context.Context) error {
		ids = nil
		return db.Bun.NewRaw(`SELECT id FROM run_logs WHERE run_id = ? ORDER BY id DESC LIMIT 1`, runID).Scan(ctx, &ids)
	})
	if err != nil {
		return 0, fmt.Errorf("last log id of run %d: %w", runID, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}
