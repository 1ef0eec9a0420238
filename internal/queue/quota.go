package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/store"
)

// isPrompt reports whether ev asks the model for a spec: its decision
// goes on QueuePrompts.
func isPrompt(ev *store.EventJob) bool {
	return ev.Kind == store.EventCommand && ev.Command == "prompt"
}

type buildWorker struct {
	river.WorkerDefaults[BuildArgs]
	runner          Runner
	db              *store.DB
	quota           *store.Quota
	perInstallation int
	log             *slog.Logger
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
	if w.quota == nil && w.perInstallation <= 0 {
		return w.runner.Run(ctx, job.Args.RunID)
	}
	run, err := w.db.Run(ctx, job.Args.RunID)
	if err != nil {
		return err
	}
	if run.Status.Terminal() {
		return w.runner.Run(ctx, job.Args.RunID) // it leaves an ended run alone
	}
	var inst int64
	if run.InstallationID != nil {
		inst = *run.InstallationID
	}
	if w.perInstallation > 0 && run.InstallationID != nil {
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
		ok, wait, err := w.db.TakeTokens(ctx, w.quota.Buckets("build", inst, run.Repo, run.RequestedBy))
		if err != nil {
			return err
		}
		if !ok {
			w.log.InfoContext(ctx, "build quota exhausted: the build waits", "run_id", run.ID, "repo", run.Repo,
				"requested_by", run.RequestedBy, "wait", wait)
			msg := fmt.Sprintf("waiting for the build quota (builds per hour of this installation, repository or user): next try in %s", wait)
			if err := w.db.AppendLogs(ctx, []store.RunLog{{RunID: run.ID, Step: "PENDING", Level: store.LogInfo, Message: msg}}); err != nil {
				return err
			}
			return river.JobSnooze(wait)
		}
	}
	return w.runner.Run(ctx, job.Args.RunID)
}
