package queue

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/store"
)

// ReaperArgs is the periodic job that ends orphaned runs: runs whose job
// was discarded or cancelled unstarted would never end otherwise.
type ReaperArgs struct{}

// Kind is the job kind in river_job.
func (ReaperArgs) Kind() string { return "run_reaper" }

type reaperWorker struct {
	river.WorkerDefaults[ReaperArgs]
	db           *store.DB
	syncs        *Inserter
	abandonAfter time.Duration
}

func (w *reaperWorker) Work(ctx context.Context, _ *river.Job[ReaperArgs]) error {
	ended, err := w.db.EndOrphanedRuns(ctx, w.abandonAfter)
	if len(ended) > 0 {
		// Their check runs must end too: none is left stale.
		if serr := w.syncs.EnqueueSyncs(ctx, nil, ended); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}
