package queue

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// RetentionArgs is the periodic job that deletes expired artifacts.
type RetentionArgs struct{}

// Kind is the job kind in river_job.
func (RetentionArgs) Kind() string { return "artifact_retention" }

// ArtifactDeleter deletes objects from the artifact store
// (internal/artifacts.Store); deleting a missing object is not an error.
type ArtifactDeleter interface {
	Delete(ctx context.Context, key string) error
}

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	db        *store.DB
	artifacts ArtifactDeleter
	log       *slog.Logger
}

// Work deletes the objects of expired artifacts (or, for rows recorded
// before the artifact store, their local files) and then their rows, in
// batches. An object already gone is fine; any other failure keeps the row
// so the next run tries again.
func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	if n, err := w.db.PruneQuotaBuckets(ctx); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "retention: dropped idle quota buckets", "count", n)
	}
	for {
		expired, err := w.db.ExpiredArtifacts(ctx, time.Now(), 200)
		if err != nil {
			return err
		}
		if len(expired) == 0 {
			return nil
		}
		var done []int64
		for _, a := range expired {
			if a.Key != "" {
				if w.artifacts == nil {
					continue // a worker without the store leaves it to one with it
				}
				if err := w.artifacts.Delete(ctx, a.Key); err != nil {
					w.log.WarnContext(ctx, "retention: cannot delete artifact", logging.KeyRun, a.RunID, "key", a.Key, logging.KeyErr, err)
					continue
				}
			} else if strings.HasPrefix(a.Location, "/") {
				if err := os.Remove(a.Location); err != nil && !errors.Is(err, os.ErrNotExist) {
					w.log.WarnContext(ctx, "retention: cannot delete artifact file", logging.KeyRun, a.RunID, "path", a.Location, logging.KeyErr, err)
					continue
				}
			}
			done = append(done, a.ID)
		}
		if len(done) == 0 {
			return nil
		}
		if err := w.db.DeleteArtifacts(ctx, done); err != nil {
			return err
		}
		w.log.InfoContext(ctx, "retention: deleted expired artifacts", "count", len(done))
		if len(expired) < 200 {
			return nil
		}
	}
}
