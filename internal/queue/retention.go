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

// Work drops idle quota buckets and expired web sessions, and deletes
// expired artifacts (ExpireArtifacts).
func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	if n, err := w.db.PruneQuotaBuckets(ctx); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "retention: dropped idle quota buckets", "count", n)
	}
	// Expired web sessions go too (a bounded batch per pass).
	if n, err := w.db.DeleteExpiredSessions(ctx, time.Now(), 10_000); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "retention: deleted expired web sessions", "count", n)
	}
	_, err := ExpireArtifacts(ctx, w.db, w.artifacts, w.log, time.Now(), false)
	return err
}

// Expired is what ExpireArtifacts deleted (or, in a dry run, would).
type Expired struct {
	Artifacts int
	Bytes     int64
}

// ExpireArtifacts deletes the objects of the artifacts expired at now
// (or, for rows recorded before the artifact store, their local files)
// and then their rows, in batches. An object already gone is fine; any
// other failure keeps the row so the next run tries again. Without the
// store (del nil) objects are left to a worker with it. A dry run deletes
// nothing and counts the expired rows.
func ExpireArtifacts(ctx context.Context, db *store.DB, del ArtifactDeleter, log *slog.Logger, now time.Time, dryRun bool) (Expired, error) {
	var res Expired
	if dryRun {
		// Counted up to a bound: a dry run reads, it does not page.
		expired, err := db.ExpiredArtifacts(ctx, now, 100_000)
		if err != nil {
			return res, err
		}
		for _, a := range expired {
			if a.Key == "" || del != nil {
				res.Artifacts++
				res.Bytes += a.Size
			}
		}
		return res, nil
	}
	for {
		expired, err := db.ExpiredArtifacts(ctx, now, 200)
		if err != nil {
			return res, err
		}
		if len(expired) == 0 {
			return res, nil
		}
		var done []int64
		var bytes int64
		for _, a := range expired {
			if a.Key != "" {
				if del == nil {
					continue // a worker without the store leaves it to one with it
				}
				if err := del.Delete(ctx, a.Key); err != nil {
					log.WarnContext(ctx, "retention: cannot delete artifact", logging.KeyRun, a.RunID, "key", a.Key, logging.KeyErr, err)
					continue
				}
			} else if strings.HasPrefix(a.Location, "/") {
				if err := os.Remove(a.Location); err != nil && !errors.Is(err, os.ErrNotExist) {
					log.WarnContext(ctx, "retention: cannot delete artifact file", logging.KeyRun, a.RunID, "path", a.Location, logging.KeyErr, err)
					continue
				}
			}
			done = append(done, a.ID)
			bytes += a.Size
		}
		if len(done) == 0 {
			return res, nil
		}
		if err := db.DeleteArtifacts(ctx, done); err != nil {
			return res, err
		}
		res.Artifacts += len(done)
		res.Bytes += bytes
		log.InfoContext(ctx, "retention: deleted expired artifacts", "count", len(done))
		if len(expired) < 200 {
			return res, nil
		}
	}
}
