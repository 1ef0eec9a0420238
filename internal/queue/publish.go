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

// PublishArgs is the job that publishes a successful run's release. It is
// inserted in the transaction that ends the run (store.DB.FinishWith), so
// it exists exactly when the run has ended successfully.
type PublishArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind is the job kind in river_job.
func (PublishArgs) Kind() string { return "publish_release" }

// Releaser publishes a run's release (the GitHub release use case).
type Releaser interface {
	Publish(ctx context.Context, runID int64) error
}

// EnqueuePublish implements store.ReleaseJobs: it inserts the release of
// run runID in tx, the transaction that ends the run.
func (q *Inserter) EnqueuePublish(ctx context.Context, tx *sql.Tx, runID int64) error {
	if _, err := q.client.InsertTx(ctx, tx, PublishArgs{RunID: runID}, &river.InsertOpts{Queue: QueuePublish, MaxAttempts: syncAttempts}); err != nil {
		return fmt.Errorf("queue the release of run %d: %w", runID, err)
	}
	return nil
}

// publishStore is what the release job reads and records.
type publishStore interface {
	RecordReport(ctx context.Context, id int64, u store.ReportUpdate) error
}

type publishWorker struct {
	river.WorkerDefaults[PublishArgs]
	r     Releaser
	db    publishStore
	syncs *Inserter
}

// Work publishes the run's release: the job exists only once the run has
// ended successfully. A GitHub outage is retried with backoff for hours,
// and never fails the build; the last failure is recorded on the run.
func (w *publishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	if err := w.r.Publish(ctx, job.Args.RunID); err != nil {
		if job.Attempt >= job.MaxAttempts {
			msg := "the release could not be published: " + err.Error()
			return errors.Join(err, w.db.RecordReport(context.WithoutCancel(ctx), job.Args.RunID, store.ReportUpdate{ReportError: &msg}))
		}
		return err
	}
	return w.syncs.Sync(ctx, job.Args.RunID, run.SyncState) // the check run shows the links
}

func (w *publishWorker) Timeout(*river.Job[PublishArgs]) time.Duration { return 3 * time.Hour }
