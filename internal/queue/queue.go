// Package queue runs builds as River jobs on the store's database.
//
// A build job is inserted in the same transaction as the delivery and run
// rows that ask for it (store.Intake with Queue.Enqueuer), so a crash can
// never leave a run without its job or a job without its run. River gives
// the rest: at-least-once execution on any number of worker processes
// sharing the database, unique jobs per (repository, head SHA, trigger) so
// duplicate events coalesce, retries with backoff, rescue of jobs whose
// worker died, cancellation, and a periodic artifact-retention job.
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
	"os"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
}

// Kind is the job kind in river_job.
func (BuildArgs) Kind() string { return "build" }

// uniqueBuild coalesces builds only while one is waiting or running; a
// finished build does not block building the same commit again.
var uniqueBuild = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	},
}

// QueueEvents is the queue of event jobs: deciding deferred deliveries
// (pull requests, comment commands) and redelivering missed ones. Builds
// run on River's default queue.
const QueueEvents = "events"

// QueueReports is the queue of check run syncs and QueuePublish that of
// releases: a long upload or a slow model never delays a check run.
const (
	QueueReports = "reports"
	QueuePublish = "publish"
)

// QueuePrompts is the queue of "/build <description>" decisions: a slow
// model holds only these workers, never the decisions of pull requests
// and other commands on QueueEvents.
const QueuePrompts = "prompts"

// promptAttempts is how often a prompt decision is tried: each attempt
// may wait minutes on the model.
const promptAttempts = 3

// EventArgs is the job that decides a deferred delivery.
type EventArgs struct {
	store.EventJob
}

// Kind is the job kind in river_job.
func (EventArgs) Kind() string { return "github_event" }

// EventHandler decides deferred deliveries (webhook.Events). An error is
// retried with backoff (GitHub unreachable).
type EventHandler interface {
	HandleEvent(ctx context.Context, ev *store.EventJob) error
}

// Redeliverer asks GitHub to redeliver the webhook deliveries that failed
// and were never recorded.
type Redeliverer interface {
	RedeliverMissed(ctx context.Context) error
}

// RedeliverArgs is the periodic missed-delivery job.
type RedeliverArgs struct{}

// Kind is the job kind in river_job.
func (RedeliverArgs) Kind() string { return "redeliver_missed" }

// SyncArgs is the job that brings a run's check run up to date. Syncs of
// one run take turns (a cluster-wide lock; a busy one is snoozed) and each
// reads the run's current state, so none is lost and the last one shows
// the newest state. They are not unique: River's unique jobs include
// running ones, which would drop a change made while a sync runs. Log
// progress asks for a sync at most every few seconds (SyncReporter).
type SyncArgs struct {
	RunID  int64  `json:"run_id"`
	Reason string `json:"reason"` // state or log
}

// Kind is the job kind in river_job.
func (SyncArgs) Kind() string { return "check_sync" }

// syncAttempts is how often a sync is tried: River's backoff (attempt⁴
// seconds) spreads 12 attempts over about six hours, a GitHub outage's
// worth.
const syncAttempts = 12

// Syncer brings a run's check run up to date (internal/github.Checks).
// state is set for a change of state (not log progress); lastAttempt asks
// it to record a failure instead of returning it. store.ErrLocked means
// another worker is syncing the run: the job is snoozed.
type Syncer interface {
	Sync(ctx context.Context, runID int64, state, lastAttempt bool) error
}

// PublishArgs is the job that publishes a successful run's release.
type PublishArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind is the job kind in river_job.
func (PublishArgs) Kind() string { return "publish_release" }

// Releaser publishes a run's release (internal/github.Releases).
type Releaser interface {
	Publish(ctx context.Context, runID int64) error
}

// RetentionArgs is the periodic job that deletes expired artifacts.
type RetentionArgs struct{}

// Kind is the job kind in river_job.
func (RetentionArgs) Kind() string { return "artifact_retention" }

// Runner runs one build to its end. It is the pipeline; the queue only
// calls it. An error asks River to retry the job (an infrastructure
// failure); a build that fails on its own merits records that in the store
// and returns nil.
type Runner interface {
	Run(ctx context.Context, runID int64) error
}

// Config configures a Queue.
type Config struct {
	// Workers is how many builds this process runs at once; 0 makes an
	// insert-only client (intake without an in-process worker).
	Workers int
	// Runner runs builds; required when Workers > 0.
	Runner Runner
	// JobTimeout bounds one build attempt. Default 3h.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River assumes
	// its worker died and makes it available again. Default JobTimeout +
	// 15m; it must exceed JobTimeout.
	RescueAfter time.Duration
	// MaxAttempts is how often a build is tried. Default 3.
	MaxAttempts int
	// MaxBuildsPerInstallation bounds the builds of one GitHub
	// installation running at once across all workers (store build
	// slots); a build over it waits. 0: no bound.
	MaxBuildsPerInstallation int
	// RetentionEvery is the period of the artifact-retention job. Default 1h.
	RetentionEvery time.Duration
	// Events decides deferred deliveries; without it, event jobs wait
	// for a worker that has one.
	Events EventHandler
	// EventWorkers is how many event jobs run at once. Default 4.
	EventWorkers int
	// PromptWorkers is how many prompt decisions (on QueuePrompts) run at
	// once. Default 1.
	PromptWorkers int
	// BuildQuota, when set, limits how many builds start per
	// installation, repository and requesting user (token buckets in the
	// database, shared by every worker process): a build over it waits
	// (its job is snoozed until a token is due), it is not dropped.
	BuildQuota *store.Quota
	// Syncer keeps check runs up to date; without it, sync jobs wait for
	// a worker that has one.
	Syncer Syncer
	// Releaser publishes releases; without it, publish jobs wait for a
	// worker that has one.
	Releaser Releaser
	// Redeliver, when set, runs every RedeliverEvery (default 10m).
	Redeliver      Redeliverer
	RedeliverEvery time.Duration
	// ID names this worker in river_job.attempted_by; default host name.
	ID     string
	Logger *slog.Logger
}

// Queue is a River client on the store's database.
type Queue struct {
	client  *river.Client[*sql.Tx]
	working bool // has workers: Start starts them
	db      *store.DB
	log     *slog.Logger
}

// New makes a queue. Call Start to run workers.
func New(db *store.DB, cfg Config) (*Queue, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 3 * time.Hour
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = cfg.JobTimeout + 15*time.Minute
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.RetentionEvery == 0 {
		cfg.RetentionEvery = time.Hour
	}
	if cfg.JobTimeout < 0 {
		// River never rescues a job without a timeout: a dead worker's
		// build would stay "running" for ever.
		return nil, errors.New("queue: JobTimeout must be positive")
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, fmt.Errorf("queue: RescueAfter (%s) must exceed JobTimeout (%s)", cfg.RescueAfter, cfg.JobTimeout)
	}
	q := &Queue{db: db, log: log}
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               log,
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
	}
	if cfg.Workers > 0 {
		if cfg.Runner == nil {
			return nil, errors.New("queue: workers need a Runner")
		}
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, &buildWorker{runner: cfg.Runner, db: db, quota: cfg.BuildQuota, perInstallation: cfg.MaxBuildsPerInstallation, log: log}); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		if err := river.AddWorkerSafely(workers, &retentionWorker{db: db, log: log}); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		if cfg.Events != nil {
			if cfg.EventWorkers <= 0 {
				cfg.EventWorkers = 4
			}
			if err := river.AddWorkerSafely(workers, &eventWorker{h: cfg.Events}); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			rc.Queues[QueueEvents] = river.QueueConfig{MaxWorkers: cfg.EventWorkers}
			if cfg.PromptWorkers <= 0 {
				cfg.PromptWorkers = 1
			}
			rc.Queues[QueuePrompts] = river.QueueConfig{MaxWorkers: cfg.PromptWorkers}
		}
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.RetentionEvery),
				func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		}
		// Runs whose job was discarded or cancelled unstarted would never
		// end; the reaper ends them.
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return ReaperArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
		if err := river.AddWorkerSafely(workers, &reaperWorker{db: db, q: q, abandonAfter: cfg.RescueAfter + time.Hour}); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		if cfg.Syncer != nil {
			if err := river.AddWorkerSafely(workers, &syncWorker{s: cfg.Syncer}); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			rc.Queues[QueueReports] = river.QueueConfig{MaxWorkers: 4}
		}
		if cfg.Releaser != nil {
			if err := river.AddWorkerSafely(workers, &publishWorker{r: cfg.Releaser, db: db, q: q}); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			rc.Queues[QueuePublish] = river.QueueConfig{MaxWorkers: 2}
		}
		if cfg.Redeliver != nil {
			if cfg.RedeliverEvery == 0 {
				cfg.RedeliverEvery = 10 * time.Minute
			}
			if err := river.AddWorkerSafely(workers, &redeliverWorker{r: cfg.Redeliver}); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			if _, ok := rc.Queues[QueueEvents]; !ok {
				rc.Queues[QueueEvents] = river.QueueConfig{MaxWorkers: 1}
			}
			rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.RedeliverEvery),
				func() (river.JobArgs, *river.InsertOpts) {
					return RedeliverArgs{}, &river.InsertOpts{Queue: QueueEvents, MaxAttempts: 1}
				}, &river.PeriodicJobOpts{RunOnStart: true}))
		}
		// The database/sql driver shares the store's connections and
		// transactions but has no LISTEN: jobs are found by polling. A
		// short interval is what puts a check run on GitHub within a
		// second of the webhook (one cheap query per queue and interval).
		rc.FetchPollInterval, rc.FetchCooldown = 200*time.Millisecond, 50*time.Millisecond
		if db.Dialect == store.SQLite {
			// SQLite has no LISTEN/NOTIFY: poll.
			rc.PollOnly = true
		}
	}
	client, err := river.NewClient(db.RiverDriver(), rc)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client, q.working = client, cfg.Workers > 0
	return q, nil
}

// Start starts the workers (a no-op for an insert-only queue).
func (q *Queue) Start(ctx context.Context) error {
	if !q.working {
		return nil // an insert-only client has nothing to start
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for running builds to finish, until
// ctx ends; then it cancels them (River retries them later).
func (q *Queue) Stop(ctx context.Context) error {
	if !q.working {
		return nil
	}
	if err := q.client.Stop(ctx); err == nil {
		return nil
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := q.client.StopAndCancel(stopCtx); err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	return nil
}

var _ store.Jobs = (*Queue)(nil)

// EnqueueBuilds implements store.Jobs: it inserts the runs' build jobs in
// tx with one statement, and reports the run of each equivalent job
// already waiting or running.
func (q *Queue) EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*store.Run) ([]store.Enqueued, error) {
	params := make([]river.InsertManyParams, len(runs), 2*len(runs))
	for i, run := range runs {
		params[i] = river.InsertManyParams{
			Args:       BuildArgs{RunID: run.ID, Repo: run.Repo, HeadSHA: run.HeadSHA, Trigger: string(run.Trigger), SpecHash: inlineSpecHash(run)},
			InsertOpts: &river.InsertOpts{UniqueOpts: uniqueBuild},
		}
	}
	// Runs from GitHub get their check run at once, queued: the sync jobs
	// go in the same statement. A run that turns out coalesced is dropped,
	// and its sync finds no run and does nothing.
	for _, run := range runs {
		if run.InstallationID != nil {
			params = append(params, river.InsertManyParams{Args: SyncArgs{RunID: run.ID, Reason: "state"}, InsertOpts: syncOpts(time.Time{})})
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

func inlineSpecHash(run *store.Run) string {
	if run.SpecSource == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(run.SpecSource))
	return hex.EncodeToString(sum[:8])
}

// EnqueueSyncs implements store.Jobs: a state sync of each run's check
// run, in tx (or on its own when tx is nil).
func (q *Queue) EnqueueSyncs(ctx context.Context, tx *sql.Tx, runIDs []int64) error {
	if len(runIDs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(runIDs))
	for i, id := range runIDs {
		params[i] = river.InsertManyParams{Args: SyncArgs{RunID: id, Reason: "state"}, InsertOpts: syncOpts(time.Time{})}
	}
	var err error
	if tx == nil {
		_, err = q.client.InsertMany(ctx, params)
	} else {
		_, err = q.client.InsertManyTx(ctx, tx, params)
	}
	if err != nil {
		return fmt.Errorf("insert sync jobs: %w", err)
	}
	return nil
}

func syncOpts(at time.Time) *river.InsertOpts {
	return &river.InsertOpts{Queue: QueueReports, MaxAttempts: syncAttempts, ScheduledAt: at}
}

// Sync asks for run id's check run to be brought up to date: now for a
// state change, in a few seconds for log progress.
func (q *Queue) Sync(ctx context.Context, runID int64, logOnly bool) error {
	args, at := SyncArgs{RunID: runID, Reason: "state"}, time.Time{}
	if logOnly {
		args.Reason, at = "log", time.Now().Add(LogSyncDelay)
	}
	if _, err := q.client.Insert(ctx, args, syncOpts(at)); err != nil {
		return fmt.Errorf("insert sync job: %w", err)
	}
	return nil
}

// LogSyncDelay is the most often log progress reaches the check run.
const LogSyncDelay = 5 * time.Second

// EnqueueEvent implements store.Jobs: it inserts the job that decides a
// deferred delivery, on the events queue (so long builds never delay it),
// or for a prompt build on the prompts queue, tried at most three times
// (so a slow model never delays the others).
func (q *Queue) EnqueueEvent(ctx context.Context, tx *sql.Tx, ev *store.EventJob) (int64, error) {
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

// CancelJob implements store.Jobs: it cancels a job in tx. A job that is
// gone (pruned after it finished) is nothing to cancel.
func (q *Queue) CancelJob(ctx context.Context, tx *sql.Tx, jobID int64) error {
	if _, err := q.client.JobCancelTx(ctx, tx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}

// Cancel cancels a job outside any transaction: a running one has its
// context cancelled, a waiting one will not start.
func (q *Queue) Cancel(ctx context.Context, jobID int64) error {
	if _, err := q.client.JobCancel(ctx, jobID); err != nil {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}

// Job returns a job's row (state, attempts, errors).
func (q *Queue) Job(ctx context.Context, jobID int64) (*rivertype.JobRow, error) {
	j, err := q.client.JobGet(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", jobID, err)
	}
	return j, nil
}

// ReaperArgs is the periodic job that ends orphaned runs.
type ReaperArgs struct{}

// Kind is the job kind in river_job.
func (ReaperArgs) Kind() string { return "run_reaper" }

type reaperWorker struct {
	river.WorkerDefaults[ReaperArgs]
	db           *store.DB
	q            *Queue
	abandonAfter time.Duration
}

func (w *reaperWorker) Work(ctx context.Context, _ *river.Job[ReaperArgs]) error {
	ended, err := w.db.EndOrphanedRuns(ctx, w.abandonAfter)
	if len(ended) > 0 {
		// Their check runs must end too: none is left stale.
		if serr := w.q.EnqueueSyncs(ctx, nil, ended); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
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

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s Syncer
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	err := w.s.Sync(ctx, job.Args.RunID, job.Args.Reason != "log", job.Attempt >= job.MaxAttempts)
	if errors.Is(err, store.ErrLocked) { // another worker is syncing the run
		return river.JobSnooze(time.Second)
	}
	return err
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return 10 * time.Minute }

type publishWorker struct {
	river.WorkerDefaults[PublishArgs]
	r  Releaser
	db *store.DB
	q  *Queue
}

// Work publishes once the run has ended (the pipeline asks during its
// last step): a run still going is snoozed; a GitHub outage is retried
// with backoff for hours, and never fails the build.
func (w *publishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	run, err := w.db.Run(ctx, job.Args.RunID)
	if err != nil {
		return err
	}
	if !run.Status.Terminal() {
		return river.JobSnooze(2 * time.Second)
	}
	if err := w.r.Publish(ctx, job.Args.RunID); err != nil {
		if job.Attempt >= job.MaxAttempts {
			msg := "the release could not be published: " + err.Error()
			return errors.Join(err, w.db.RecordReport(context.WithoutCancel(ctx), run.ID, store.ReportUpdate{ReportError: &msg}))
		}
		return err
	}
	return w.q.Sync(ctx, job.Args.RunID, false) // the check run shows the links
}

func (w *publishWorker) Timeout(*river.Job[PublishArgs]) time.Duration { return 3 * time.Hour }

// EnqueuePublish queues the release of run runID's artifacts.
func (q *Queue) EnqueuePublish(ctx context.Context, runID int64) error {
	if _, err := q.client.Insert(ctx, PublishArgs{RunID: runID}, &river.InsertOpts{Queue: QueuePublish, MaxAttempts: syncAttempts}); err != nil {
		return fmt.Errorf("queue the release: %w", err)
	}
	return nil
}

type redeliverWorker struct {
	river.WorkerDefaults[RedeliverArgs]
	r Redeliverer
}

func (w *redeliverWorker) Work(ctx context.Context, _ *river.Job[RedeliverArgs]) error {
	return w.r.RedeliverMissed(ctx)
}

func (w *redeliverWorker) Timeout(*river.Job[RedeliverArgs]) time.Duration { return 5 * time.Minute }

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	db  *store.DB
	log *slog.Logger
}

// Work deletes the files of expired artifacts and then their rows, in
// batches. A file already gone is fine; any other failure keeps the row so
// the next run tries again.
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
			if strings.HasPrefix(a.Location, "/") {
				if err := os.Remove(a.Location); err != nil && !errors.Is(err, os.ErrNotExist) {
					w.log.WarnContext(ctx, "retention: cannot delete artifact file", "run_id", a.RunID, "path", a.Location, "err", err)
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
