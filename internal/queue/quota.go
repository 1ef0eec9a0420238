package queue

import (
	"context"
	"fmt"
	"log/slog"

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
	runner Runner
	db     *store.DB
	quota  *store.Quota
	log    *slog.Logger
}

// Work runs the build once the build quota has a token for its
// installation, repository and requesting user; until then the job is
// snoozed (a snooze is not an attempt) for as long as the next token
// takes.
func (w *buildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	if w.quota != nil {
		run, err := w.db.Run(ctx, job.Args.RunID)
		if err != nil {
			return err
		}
		if !run.Status.Terminal() {
			var inst int64
			if run.InstallationID != nil {
				inst = *run.InstallationID
			}
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
	}
	return w.runner.Run(ctx, job.Args.RunID)
}
