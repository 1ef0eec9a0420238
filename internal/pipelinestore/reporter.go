package pipelinestore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
)

// SyncReporter is the pipeline reporter that keeps check runs current: a
// state sync at every transition, a delayed, coalesced sync for log
// progress. It never fails a build: a sync that cannot be queued is logged.
type SyncReporter struct {
	Syncs  Syncs
	Logger *slog.Logger

	mu      sync.Mutex
	lastLog map[int64]time.Time
}

// Syncs asks for check-run syncs (queue.Inserter).
type Syncs interface {
	Sync(ctx context.Context, runID int64, reason run.SyncReason) error
}

var _ pipeline.Reporter = (*SyncReporter)(nil)

// Transition implements pipeline.Reporter.
func (r *SyncReporter) Transition(ctx context.Context, runID int64, _, _ run.State, _ string) {
	r.sync(ctx, runID, run.SyncState)
}

// Log implements pipeline.Reporter.
func (r *SyncReporter) Log(ctx context.Context, line pipeline.LogLine) {
	// A build logs thousands of lines: ask at most once per delay per run
	// (sync jobs are not unique: each ask is a job).
	now := time.Now()
	r.mu.Lock()
	if r.lastLog == nil {
		r.lastLog = map[int64]time.Time{}
	}
	if now.Sub(r.lastLog[line.RunID]) < queue.LogSyncDelay {
		r.mu.Unlock()
		return
	}
	r.lastLog[line.RunID] = now
	for id, at := range r.lastLog {
		if now.Sub(at) > time.Hour {
			delete(r.lastLog, id)
		}
	}
	r.mu.Unlock()
	r.sync(ctx, line.RunID, run.SyncLog)
}

func (r *SyncReporter) sync(ctx context.Context, runID int64, reason run.SyncReason) {
	// The final transition comes with the run's context cancelled, when
	// it was cancelled: queue the sync all the same.
	if err := r.Syncs.Sync(context.WithoutCancel(ctx), runID, reason); err != nil {
		log := r.Logger
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "could not queue a check run sync", logging.KeyRun, runID, logging.KeyErr, err)
	}
}
