package queue

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// RescueArgs is the periodic job that rescues the jobs of lost workers:
// workers whose heartbeat is older than WorkerConfig.DeadAfter. River's
// leader inserts it (periodic jobs are the leader's), every
// WorkerConfig.RescueEvery, on QueueMaintenance so that busy build slots
// never delay it. River's own rescuer (after JobTimeout + 15 min) stays as
// the backstop for workers without a heartbeat.
type RescueArgs struct{}

// Kind is the job kind in river_job.
func (RescueArgs) Kind() string { return "worker_rescue" }

type rescueWorker struct {
	river.WorkerDefaults[RescueArgs]
	db        *store.DB
	syncs     *Inserter
	deadAfter time.Duration
	now       func() time.Time
}

func (w *rescueWorker) Work(ctx context.Context, _ *river.Job[RescueArgs]) error {
	res, err := w.db.RescueLostWorkers(ctx, w.now(), w.deadAfter)
	if err != nil {
		return err
	}
	if len(res.Workers) > 0 {
		logging.From(ctx).WarnContext(ctx, "rescued the jobs of lost workers", "workers", res.Workers,
			"retried", res.Retried, "cancelled", res.Cancelled, "discarded", res.Discarded, "runs", res.Runs)
	}
	if len(res.Runs) > 0 {
		// Their check runs say they are being retried.
		return w.syncs.EnqueueSyncs(ctx, nil, res.Runs)
	}
	return nil
}
