package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/linux-builder/linux-builder/internal/run"
)

// logBatch is the most log lines one INSERT carries.
const logBatch = 500

// AppendLogs appends lines to their runs' logs, in batches. Lines without
// a time get the store's clock. The lines are inserted in order; a failed
// batch is retried whole, in its own transaction, so a line is never
// written twice by a retry.
func (db *DB) AppendLogs(ctx context.Context, lines []RunLog) error {
	now := db.utcNow()
	for start := 0; start < len(lines); start += logBatch {
		batch := make([]RunLog, 0, logBatch)
		for _, l := range lines[start:min(start+logBatch, len(lines))] {
			l.ID = 0
			if l.At.IsZero() {
				l.At = now
			}
			l.At = l.At.UTC()
			if l.Level == "" {
				l.Level = run.LogInfo
			}
			batch = append(batch, l)
		}
		err := db.withRetry(ctx, "append logs", func(ctx context.Context) error {
			// One statement is atomic: it cannot half-apply, so a retry
			// after a failure cannot duplicate lines.
			_, err := db.Bun.NewInsert().Model(&batch).Exec(ctx)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Logs returns up to limit log lines of run id after line afterID (0 for
// the start), in order.
func (db *DB) Logs(ctx context.Context, runID, afterID int64, limit int) ([]RunLog, error) {
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var out []RunLog
	err := db.withRetry(ctx, "read logs", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewSelect().Model(&out).Where("run_id = ? AND id > ?", runID, afterID).OrderExpr("id").Limit(int64(limit)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("read logs of run %d: %w", runID, err)
	}
	return out, nil
}

// LastLogs returns the last limit lines of run runID's log (at most
// 10000), oldest first: a page's tail.
func (db *DB) LastLogs(ctx context.Context, runID int64, limit int) ([]RunLog, error) {
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var out []RunLog
	err := db.withRetry(ctx, "read the log's tail", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewSelect().Model(&out).Where("run_id = ?", runID).OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("read the log's tail of run %d: %w", runID, err)
	}
	slices.Reverse(out)
	return out, nil
}
