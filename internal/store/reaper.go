package store

import (
	"context"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
)

// EndOrphanedRuns gives every run that can no longer end by itself its
// ending, so no run stays PENDING or IN_PROGRESS for ever:
//   - its job was cancelled before a worker took it: CANCELLED;
//   - its job was discarded (every attempt's worker died, or River gave
//     up) or completed without ending the run: FAILED;
//   - it has no job (a local build whose process died) and has not moved
//     for abandonAfter: FAILED.
//
// It returns the runs it ended.
func (db *DB) EndOrphanedRuns(ctx context.Context, abandonAfter time.Duration) ([]int64, error) {
	type orphan struct {
		ID       int64   `bun:"id"`
		JobState *string `bun:"job_state"`
	}
	var orphans []orphan
	err := db.withRetry(ctx, "find orphaned runs", func(ctx context.Context) error {
		orphans = nil
		return db.Bun.NewRaw(`
			SELECT r.id AS id, j.state AS job_state
			FROM runs r LEFT JOIN river_job j ON j.id = r.job_id
			WHERE r.status IN (?, ?)
			  AND ((r.job_id IS NOT NULL AND (j.id IS NULL OR j.state IN ('discarded', 'cancelled', 'completed')))
			    OR (r.job_id IS NULL AND r.updated_at < ?))
			ORDER BY r.id`, run.StatusPending, run.StatusInProgress, db.utcNow().Add(-abandonAfter)).Scan(ctx, &orphans)
	})
	if err != nil {
		return nil, err
	}
	var ended []int64
	for _, o := range orphans {
		final, reason := run.Failed, "the run was abandoned: its process stopped without ending it"
		switch {
		case o.JobState != nil && *o.JobState == "cancelled":
			final, reason = run.Cancelled, "cancelled before a worker started it"
		case o.JobState != nil && *o.JobState == "discarded":
			reason = "the build job was given up after its last attempt (the worker was lost or kept failing)"
		case o.JobState != nil:
			reason = "the build job ended without ending the run"
		}
		if err := db.Finish(ctx, o.ID, final, reason); err != nil {
			return ended, fmt.Errorf("end orphaned run %d: %w", o.ID, err)
		}
		db.log.WarnContext(ctx, "ended an orphaned run", logging.KeyRun, o.ID, "state", final, "reason", reason)
		ended = append(ended, o.ID)
	}
	return ended, nil
}
