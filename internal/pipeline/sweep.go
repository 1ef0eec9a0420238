package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
)

// A run's attempt can end without ending the run: its worker stopped
// (interrupted: the queue's context ends with run.ErrInterrupted) or died
// (the queue rescued its job). The next attempt starts over: the run's
// steps are reset in the store, and what the earlier attempt left behind
// — its image and containers, its artifacts directory with partial files
// (*.part, .iso-work-*, work/) — is swept first.

// LabelRunKey labels the images a run builds (and so the containers made
// from them) with RunKey: the sweep of a retried attempt finds them by it.
const LabelRunKey = "io.linux-builder.run-key"

// RunKey names a run's images and containers in the engine. It is the
// run's id and creation time, so that runs of another database sharing
// the engine (another deployment, `bot build`'s SQLite) never match.
func RunKey(rec *RunRecord) string {
	return fmt.Sprintf("%d@%s", rec.ID, rec.CreatedAt.UTC().Format("20060102T150405.000000"))
}

// RunSweeper removes what an earlier attempt of a run left in the image
// builder (the Docker engine implements it; a builder without leftovers
// need not).
type RunSweeper interface {
	SweepRun(ctx context.Context, key string) (removed int, err error)
}

// RunObjectSweeper deletes the objects an earlier attempt of a run put in
// the artifact store: the store's restart dropped their rows, so nothing
// else (not retention) would find them, and the new attempt may not put
// every name again (a step that fails, a boot log of another firmware).
// pipelinestore.Artifacts implements it.
type RunObjectSweeper interface {
	DeleteRunObjects(ctx context.Context, runID int64) (removed int, err error)
}

// startOver prepares a retried run: a run whose earlier attempt got past
// PENDING is restarted in the store, and the earlier attempt's leftovers
// are swept. A first attempt has nothing to sweep.
func (r *execution) startOver(ctx context.Context) error {
	if r.rec.State == run.Pending && !r.rec.Retried {
		return nil
	}
	if err := r.waitEngine(ctx); err != nil {
		return err
	}
	if r.rec.State != run.Pending {
		// Nobody restarted the run (River's own rescuer gave the job back,
		// or an infrastructure failure ended the attempt).
		if err := r.p.cfg.Store.Restart(ctx, r.rec.ID, run.ReasonAttemptLost); err != nil {
			return &errRetry{fmt.Errorf("restart run %d: %w", r.rec.ID, err)}
		}
		r.rec.State = run.Pending
	}
	return r.sweep(ctx)
}

// sweep removes the leftovers of the run's earlier attempts: its whole
// artifacts directory (the store no longer lists any of its files), its
// objects in the artifact store and its images and containers. It is
// idempotent, and touches no other run.
func (r *execution) sweep(ctx context.Context) error {
	log := logging.From(ctx)
	if err := os.RemoveAll(r.dir); err != nil {
		return &errRetry{fmt.Errorf("sweep the artifacts directory of run %d: %w", r.rec.ID, err)}
	}
	if s, ok := r.p.cfg.Artifacts.(RunObjectSweeper); ok {
		n, err := s.DeleteRunObjects(ctx, r.rec.ID)
		if err != nil {
			return &errRetry{fmt.Errorf("sweep the stored artifacts of run %d: %w", r.rec.ID, err)}
		}
		if n > 0 {
			log.InfoContext(ctx, "deleted an earlier attempt's stored artifacts", "removed", n)
		}
	}
	if s, ok := r.p.cfg.Builder.(RunSweeper); ok {
		n, err := s.SweepRun(ctx, RunKey(r.rec))
		if err != nil {
			return &errRetry{fmt.Errorf("sweep the images of run %d: %w", r.rec.ID, err)}
		}
		if n > 0 {
			log.InfoContext(ctx, "swept an earlier attempt's images and containers", "removed", n)
		}
	}
	return nil
}

// interrupt ends an attempt whose worker is stopping without ending the
// run: its image and partial files are removed, the run is restarted in
// the store (PENDING, with run.ReasonInterrupted in its log and on its
// check run) and the returned error asks the queue to retry it. A run the
// user cancelled meanwhile stays CANCELLED.
func (r *execution) interrupt(ctx context.Context) error {
	return r.giveUp(ctx, run.ReasonInterrupted, run.ErrInterrupted)
}

// engineLost ends an attempt that lost the Docker engine (cause wraps
// ErrEngineLost): like an interrupted one, the run goes back to PENDING
// (run.ReasonEngineLost) and the returned error asks the queue to retry
// the job, the attempt counted. The job's last attempt (or a run outside
// the queue, which has no other) ends the run FAILED, naming the loss.
func (r *execution) engineLost(ctx context.Context, cause error) error {
	a, queued := run.AttemptOf(ctx)
	if !queued {
		return r.end(ctx, stepFailed(fmt.Sprintf("the Docker engine was lost during %s: %v", r.state, cause), cause))
	}
	if a.Last() {
		return r.end(ctx, stepFailed(fmt.Sprintf("the Docker engine was lost during %s, in the build's last attempt (%d of %d): %v",
			r.state, a.N, a.Max, cause), cause))
	}
	r.logs.Add(ctx, run.LogWarn, fmt.Sprintf("%s during %s: %v", run.ReasonEngineLost, r.state, cause))
	return r.giveUp(ctx, run.ReasonEngineLost, cause)
}

// giveUp ends the attempt without ending the run: its image and partial
// files are removed, the run is restarted in the store (PENDING, with
// reason in its log and on its check run) and the returned error, which
// wraps cause, asks the queue to retry it.
func (r *execution) giveUp(ctx context.Context, reason string, cause error) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	r.cleanup(wctx, run.Cancelled)
	r.logs.Flush(wctx)
	if err := r.p.cfg.Store.Restart(wctx, r.rec.ID, reason); err != nil {
		logging.From(ctx).WarnContext(ctx, "could not restart the run for a retry", "reason", reason, logging.KeyErr, err)
		return fmt.Errorf("run %d: %w", r.rec.ID, errors.Join(cause, err))
	}
	from := r.state
	r.state = run.Pending
	for _, rep := range r.p.cfg.Reporters {
		rep.Transition(wctx, r.rec.ID, from, run.Pending, reason)
	}
	return fmt.Errorf("run %d: %w", r.rec.ID, cause)
}

// waitEngine waits, up to Config.EngineWait, for the builder's engine to
// answer before a retried attempt starts over: the attempt before may have
// lost it (dockerd restarting). An engine still gone is lost for this
// attempt too.
func (r *execution) waitEngine(ctx context.Context) error {
	w, ok := r.p.cfg.Builder.(EngineWaiter)
	if !ok {
		return nil
	}
	start := time.Now()
	if err := w.WaitEngine(ctx, r.p.cfg.EngineWait); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if took := time.Since(start); took > time.Second {
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("the Docker engine answered again after %s", took.Round(100*time.Millisecond)))
	}
	return nil
}

// SweepWorkDir removes what earlier processes on this machine left in the
// artifacts directory (ArtifactsDir/<run id>: partial files, .iso-work-*,
// work/) for runs that are not in progress: runs that ended, or went back
// to the queue, while this machine's worker was dead (another worker took
// them over and their own sweep cannot reach this disk). A run in
// progress is left alone: another worker process may share the directory.
// It returns how many run directories it removed.
func (p *Pipeline) SweepWorkDir(ctx context.Context) (int, error) {
	ents, err := os.ReadDir(p.cfg.ArtifactsDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep the work directory: %w", err)
	}
	var n int
	var errs []error
	for _, e := range ents {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || id <= 0 || !e.IsDir() {
			continue
		}
		rec, err := p.cfg.Store.LoadRun(ctx, id)
		switch {
		case err != nil:
			// Not this database's run, or the store failed: leave it.
			errs = append(errs, fmt.Errorf("sweep the work directory of run %d: %w", id, err))
			continue
		case rec.State != run.Pending && !rec.State.Terminal():
			continue // in progress, perhaps in a sibling process
		}
		if err := os.RemoveAll(filepath.Join(p.cfg.ArtifactsDir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("sweep the work directory of run %d: %w", id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
