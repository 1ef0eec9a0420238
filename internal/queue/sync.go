package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// SyncArgs is the job that brings a run's check run up to date. Syncs of
// one run take turns (a cluster-wide lock; a busy one is snoozed) and each
// reads the run's current state, so none is lost and the last one shows
// the newest state. They are not unique: River's unique jobs include
// running ones, which would drop a change made while a sync runs. Log
// progress asks for a sync at most every few seconds (the pipeline's
// SyncReporter throttles).
type SyncArgs struct {
	RunID  int64          `json:"run_id"`
	Reason run.SyncReason `json:"reason"` // state or log
}

// Kind is the job kind in river_job.
func (SyncArgs) Kind() string { return "check_sync" }

// syncAttempts is how often a sync (and a release) is tried: River's
// backoff (attempt⁴ seconds) spreads 12 attempts over about six hours, a
// GitHub outage's worth.
const syncAttempts = 12

// LogSyncDelay is the most often log progress reaches the check run.
const LogSyncDelay = 5 * time.Second

// Syncer brings a run's check run up to date (the check-run reconciler).
// store.ErrLocked means another worker is syncing the run: the job is
// snoozed.
type Syncer interface {
	Sync(ctx context.Context, runID int64, reason run.SyncReason) error
}

// syncParams is a sync of run runID: now for a state change, in a few
// seconds for log progress.
func syncParams(runID int64, reason run.SyncReason) river.InsertManyParams {
	opts := &river.InsertOpts{Queue: QueueReports, MaxAttempts: syncAttempts}
	if reason == run.SyncLog {
		opts.ScheduledAt = time.Now().Add(LogSyncDelay)
	}
	return river.InsertManyParams{Args: SyncArgs{RunID: runID, Reason: reason}, InsertOpts: opts}
}

// EnqueueSyncs implements store.Jobs: a state sync of each run's check
// run, in tx (or on its own when tx is nil).
func (q *Inserter) EnqueueSyncs(ctx context.Context, tx *sql.Tx, runIDs []int64) error {
	if len(runIDs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(runIDs))
	for i, id := range runIDs {
		params[i] = syncParams(id, run.SyncState)
	}
	if _, err := q.insertMany(ctx, tx, params); err != nil {
		return fmt.Errorf("insert sync jobs: %w", err)
	}
	return nil
}

// Sync asks for run runID's check run to be brought up to date: now for
// run.SyncState, in LogSyncDelay for run.SyncLog.
func (q *Inserter) Sync(ctx context.Context, runID int64, reason run.SyncReason) error {
	if reason != run.SyncLog && reason != run.SyncState {
		return fmt.Errorf("insert sync job: reason %q is not asked for", reason)
	}
	p := syncParams(runID, reason)
	if _, err := q.client.Insert(ctx, p.Args, p.InsertOpts); err != nil {
		return fmt.Errorf("insert sync job: %w", err)
	}
	return nil
}

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s Syncer
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	reason := job.Args.Reason
	if job.Attempt >= job.MaxAttempts {
		reason = run.SyncFinal
	}
	err := w.s.Sync(ctx, job.Args.RunID, reason)
	if errors.Is(err, store.ErrLocked) { // another worker is syncing the run
		return river.JobSnooze(time.Second)
	}
	return err
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return 10 * time.Minute }
