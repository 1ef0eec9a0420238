// Package queue runs the bot's background work as River jobs on the
// store's database, in two halves made at different times:
//
//   - the insert side (Inserter, insert.go) is made first, from the
//     database alone. It inserts jobs inside the store's transactions (a
//     run and its build job, a run that ends and its release job are
//     committed together or not at all) and on their own (check-run
//     syncs). The lean webhook receiver has only this half.
//   - the worker side (Worker, worker.go) is made last, from the inserter
//     and the handlers that were given the inserter when they were made;
//     it runs the jobs.
//
// One file per job kind: build.go, event.go, sync.go, publish.go,
// redeliver.go, retention.go, reaper.go, schedule.go, rescue.go (with
// heartbeat.go). River gives the rest:
// at-least-once execution on any number of worker processes sharing the
// database, unique build jobs per (repository, head SHA, trigger) so
// duplicate events coalesce, retries with backoff, rescue of jobs whose
// worker died, cancellation and periodic jobs.
package queue

import (
	"database/sql"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queues other than River's default one (builds run there).
const (
	// QueueEvents is the queue of event jobs: deciding deferred
	// deliveries (pull requests, comment commands) and redelivering
	// missed ones.
	QueueEvents = "events"
	// QueueReports is the queue of check-run syncs: a long upload or a
	// slow model never delays a check run.
	QueueReports = "reports"
	// QueuePublish is the queue of releases.
	QueuePublish = "publish"
	// QueuePrompts is the queue of "/build <description>" decisions: a
	// slow model holds only these workers, never the decisions of pull
	// requests and other commands on QueueEvents.
	QueuePrompts = "prompts"
	// QueueMaintenance is the queue of the rescue of lost workers' jobs:
	// every worker has one slot for it, so full build slots never delay
	// it.
	QueueMaintenance = "maintenance"
)

// Names lists every queue the bot's jobs go to: River's default one
// (builds) and the others above.
func Names() []string {
	return []string{river.QueueDefault, QueueEvents, QueueReports, QueuePublish, QueuePrompts, QueueMaintenance}
}

// defaultAttempts is how often a build (and a periodic job) is tried.
const defaultAttempts = 3

// client is the River client both halves are made of.
type client = river.Client[*sql.Tx]

// Jobs that are waiting or running: unique builds coalesce only with
// these, so a finished build does not block building the commit again.
var waitingOrRunning = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// addWorker registers w, wrapping River's error with the queue's name.
func addWorker[T river.JobArgs](workers *river.Workers, w river.Worker[T]) error {
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}
