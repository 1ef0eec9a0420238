package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// BuildArgs is the build job. Only the repository, head SHA and trigger
// make it unique: the same commit pushed twice is built once.
type BuildArgs struct {
	RunID   int64  `json:"run_id"`
	Repo    string `json:"repo" river:"unique"`
	HeadSHA string `json:"head_sha" river:"unique"`
	Trigger string `json:"trigger" river:"unique"`
	// SpecHash tells apart runs of the same commit with different inline
	// specs (generated from descriptions); empty for specs from the
	// repository.
	SpecHash string `json:"spec_hash,omitempty" river:"unique"`
	// APIRun is the run id of a run an API token asked for (0 for the
	// others): each is its own build, never joined to another token's
	// run of the same spec (which would answer one client with another's
	// run).
	APIRun int64 `json:"api_run,omitempty" river:"unique"`
}

// Kind is the job kind in river_job.
func (BuildArgs) Kind() string { return "build" }

// uniqueBuild coalesces builds only while one is waiting or running; a
// finished build does not block building the same commit again.
var uniqueBuild = river.UniqueOpts{ByArgs: true, ByState: waitingOrRunning}

// Runner runs one build to its end. It is the pipeline; the queue only
// calls it. An error asks River to retry the job (an infrastructure
// failure); a build that fails on its own merits records that in the store
// and returns nil.
type Runner interface {
	Run(ctx context.Context, runID int64) error
}

// EnqueueBuilds implements store.Jobs: it inserts the runs' build jobs in
// tx with one statement, and reports the run of each equivalent job
// already waiting or running.
func (q *Inserter) EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*store.Run) ([]store.Enqueued, error) {
	params := make([]river.InsertManyParams, len(runs), 2*len(runs))
	for i, run := range runs {
		params[i] = river.InsertManyParams{
			Args:       BuildArgs{RunID: run.ID, Repo: run.Repo, HeadSHA: run.HeadSHA, Trigger: string(run.Trigger), SpecHash: inlineSpecHash(run), APIRun: apiRun(run)},
			InsertOpts: &river.InsertOpts{UniqueOpts: uniqueBuild, MaxAttempts: defaultAttempts},
		}
	}
	// Runs from GitHub get their check run at once, queued: the sync jobs
	// go in the same statement. A run that turns out coalesced is dropped,
	// and its sync finds no run and does nothing.
	for _, rn := range runs {
		if rn.InstallationID != nil {
			params = append(params, syncParams(rn.ID, run.SyncState))
		}
	}
	all, err := q.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("insert build jobs: %w", err)
	}
	res := all[:len(runs)]
	out := make([]store.Enqueued, len(res))
	for i, r := range res {
		out[i].JobID = r.Job.ID
		if r.UniqueSkippedAsDuplicate {
			var existing BuildArgs
			if err := json.Unmarshal(r.Job.EncodedArgs, &existing); err != nil {
				return nil, fmt.Errorf("read coalesced job %d: %w", r.Job.ID, err)
			}
			out[i].CoalescedInto = existing.RunID
		}
	}
	return out, nil
}

// apiRun is the run's id when an API token asked for it, else 0.
func apiRun(r *store.Run) int64 {
	if r.APITokenID != nil {
		return r.ID
	}
	return 0
}

func inlineSpecHash(run *store.Run) string {
	if run.SpecSource == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(run.SpecSource))
	return hex.EncodeToString(sum[:8])
}

type buildWorker struct {
	river.WorkerDefaults[BuildArgs]
	runner          Runner
	db              *store.DB
	quota           *store.Quota
	perInstallation int
	log             *slog.Logger
	// stopping is set by Worker.Stop before River cancels the running
	// jobs: a build whose context ends then was interrupted, not
	// cancelled.
	stopping *atomic.Bool
	// onLost is WorkerConfig.OnLost.
	onLost func(error)
}

// slotWait is how long a build waits when its installation's builds
// already fill their slots.
var slotWait = 15 * time.Second

// Work runs the build once its installation has a free build slot (at
// most perInstallation of its builds run at once, across all workers)
// and the build quota has a token for its installation, repository and
// requesting user; until then the job is snoozed (a snooze is not an
// attempt). The slot is taken first, so a build waiting for one spends
// no token.
func (w *buildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	rctx, done := w.runContext(ctx)
	defer done()
	// The attempt's writes are fenced: once the job is rescued and handed
	// to another worker, this attempt can no longer change the run.
	rctx = store.WithFence(rctx, store.Fence{JobID: job.ID, Attempt: job.Attempt})
	// The pipeline retries an attempt that lost the Docker engine, unless
	// it is the job's last.
	rctx = run.WithAttempt(rctx, run.Attempt{N: job.Attempt, Max: job.MaxAttempts})
	err := w.work(rctx, job)
	if errors.Is(err, run.ErrSuperseded) && w.onLost != nil {
		// The job is another attempt's now: returning would let River
		// record this attempt's end over it (River's completion does not
		// check the attempt). onLost ends the process (the bot's worker
		// exits); without it (tests) the error is returned.
		w.onLost(fmt.Errorf("run %d, job %d: %w", job.Args.RunID, job.ID, err))
		<-ctx.Done()
	}
	if errors.Is(context.Cause(rctx), run.ErrInterrupted) {
		// River makes a job that returns context.Canceled while its
		// client stops available again at once, without counting the
		// attempt.
		return fmt.Errorf("%w: %w", errors.Join(err, run.ErrInterrupted), ctx.Err())
	}
	return err
}

// runContext is the context a build runs in: ctx, except that when ctx
// ends because this worker is stopping (and not because the user
// cancelled the job, nor at its timeout), its cause is run.ErrInterrupted,
// which the pipeline tells apart from a cancel: the run is not ended, and
// it starts over on the next worker.
func (w *buildWorker) runContext(ctx context.Context) (context.Context, func()) {
	base, cancelDeadline := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		base, cancelDeadline = context.WithDeadline(base, dl)
	}
	rctx, cancel := context.WithCancelCause(base)
	stop := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			// rctx has the same deadline: it ends as timed out.
		case w.stopping != nil && w.stopping.Load() && !errors.Is(cause, rivertype.ErrJobCancelledRemotely):
			cancel(run.ErrInterrupted)
		default:
			cancel(cause)
		}
	})
	return rctx, func() {
		stop()
		cancel(nil)
		cancelDeadline()
	}
}

func (w *buildWorker) work(ctx context.Context, job *river.Job[BuildArgs]) error {
	if w.quota == nil && w.perInstallation <= 0 {
		return w.runner.Run(ctx, job.Args.RunID)
	}
	rn, err := w.db.Run(ctx, job.Args.RunID)
	if err != nil {
		return err
	}
	if rn.Status.Terminal() {
		return w.runner.Run(ctx, job.Args.RunID) // it leaves an ended run alone
	}
	var inst int64
	if rn.InstallationID != nil {
		inst = *rn.InstallationID
	}
	if w.perInstallation > 0 && rn.InstallationID != nil {
		release, ok, err := w.db.AcquireBuildSlot(ctx, inst, w.perInstallation)
		if err != nil {
			return err
		}
		if !ok {
			return river.JobSnooze(slotWait)
		}
		defer release()
	}
	if w.quota != nil {
		ok, wait, err := w.db.TakeTokens(ctx, w.quota.Buckets("build", inst, rn.Repo, rn.RequestedBy))
		if err != nil {
			return err
		}
		if !ok {
			w.log.InfoContext(ctx, "build quota exhausted: the build waits", logging.KeyRun, rn.ID, logging.KeyRepo, rn.Repo,
				"requested_by", rn.RequestedBy, "wait", wait)
			msg := fmt.Sprintf("waiting for the build quota (builds per hour of this installation, repository or user): next try in %s", wait)
			if err := w.db.AppendLogs(ctx, []store.RunLog{{RunID: rn.ID, Step: run.Pending, Level: run.LogInfo, Message: msg}}); err != nil {
				return err
			}
			return river.JobSnooze(wait)
		}
	}
	return w.runner.Run(ctx, job.Args.RunID)
}
