package queue

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// ReleasePruneArgs is the periodic job that deletes the bot's older
// GitHub releases (RELEASE_KEEP).
type ReleasePruneArgs struct{}

// Kind is the job kind in river_job.
func (ReleasePruneArgs) Kind() string { return "release_prune" }

// ReleasePruner deletes the bot's releases beyond the newest kept per
// branch, a bounded batch per call (internal/report.ReleasePruner).
type ReleasePruner interface {
	PruneReleases(ctx context.Context) error
}

type releasePruneWorker struct {
	river.WorkerDefaults[ReleasePruneArgs]
	p   ReleasePruner
	log *slog.Logger
}

// Work runs one pass. A failure is logged, not retried: the next pass
// (every ReleasePruneEvery) takes the releases it left.
func (w *releasePruneWorker) Work(ctx context.Context, _ *river.Job[ReleasePruneArgs]) error {
	if err := w.p.PruneReleases(ctx); err != nil {
		w.log.WarnContext(ctx, "release pruning: the pass left releases for the next one", logging.KeyErr, err)
	}
	return nil
}
