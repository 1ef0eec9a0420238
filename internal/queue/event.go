package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/linux-builder/linux-builder/internal/store"
)

// EventArgs is the job that decides a deferred delivery.
type EventArgs struct {
	store.EventJob
}

// Kind is the job kind in river_job.
func (EventArgs) Kind() string { return "github_event" }

// EventHandler decides deferred deliveries (internal/resolve.Events). An
// error is retried with backoff (GitHub unreachable).
type EventHandler interface {
	HandleEvent(ctx context.Context, ev *store.EventJob) error
}

// promptAttempts is how often a prompt decision is tried: each attempt
// may wait minutes on the model.
const promptAttempts = 3

// isPrompt reports whether ev asks the model for a spec: its decision
// goes on QueuePrompts.
func isPrompt(ev *store.EventJob) bool {
	return ev.Kind == store.EventCommand && ev.Command == "prompt"
}

// EnqueueEvent implements store.Jobs: it inserts the job that decides a
// deferred delivery, on the events queue (so long builds never delay it),
// or for a prompt build on the prompts queue, tried at most three times
// (so a slow model never delays the others).
func (q *Inserter) EnqueueEvent(ctx context.Context, tx *sql.Tx, ev *store.EventJob) (int64, error) {
	opts := &river.InsertOpts{Queue: QueueEvents, MaxAttempts: 10}
	if isPrompt(ev) {
		opts = &river.InsertOpts{Queue: QueuePrompts, MaxAttempts: promptAttempts}
	}
	res, err := q.client.InsertTx(ctx, tx, EventArgs{EventJob: *ev}, opts)
	if err != nil {
		return 0, fmt.Errorf("insert event job: %w", err)
	}
	return res.Job.ID, nil
}

type eventWorker struct {
	river.WorkerDefaults[EventArgs]
	h EventHandler
}

func (w *eventWorker) Work(ctx context.Context, job *river.Job[EventArgs]) error {
	return w.h.HandleEvent(ctx, &job.Args.EventJob)
}

// Timeout bounds one decision: a few GitHub calls.
func (w *eventWorker) Timeout(job *river.Job[EventArgs]) time.Duration {
	if isPrompt(&job.Args.EventJob) {
		return 30 * time.Minute // the model's attempts
	}
	return 2 * time.Minute
}
