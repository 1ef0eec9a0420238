package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/store"
)

// WorkerConfig configures a Worker. The handlers (Runner, Events, Syncer,
// Releaser, Redeliver) were made before it, with the Inserter.
type WorkerConfig struct {
	// Workers is how many builds this process runs at once (> 0).
	Workers int
	// Runner runs builds; required.
	Runner Runner
	// JobTimeout bounds one build attempt. Default 3h.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River assumes
	// its worker died and makes it available again. Default JobTimeout +
	// 15m; it must exceed JobTimeout.
	RescueAfter time.Duration
	// MaxBuildsPerInstallation bounds the builds of one GitHub
	// installation running at once across all workers (store build
	// slots); a build over it waits. 0: no bound.
	MaxBuildsPerInstallation int
	// Artifacts is the artifact store the retention job deletes expired
	// artifacts from.
	Artifacts ArtifactDeleter
	// RetentionEvery is the period of the artifact-retention job. Default 1h.
	RetentionEvery time.Duration
	// ReleasePruner, when set, runs every ReleasePruneEvery (default 1h)
	// on the publish queue (the default one without a Releaser): never on
	// the maintenance queue, whose rescues must not wait behind GitHub.
	ReleasePruner     ReleasePruner
	ReleasePruneEvery time.Duration
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
	// FetchPollInterval is how often each queue is polled for jobs. On
	// PostgreSQL workers hear of new jobs at once (LISTEN/NOTIFY) and the
	// poll is only a fallback: default 1s. SQLite has only the poll:
	// default 200ms.
	FetchPollInterval time.Duration
	// Schedules, when set, checks the due scheduled rebuilds every
	// ScheduleEvery (default 15m).
	Schedules     ScheduleChecker
	ScheduleEvery time.Duration
	// HeartbeatEvery is how often this worker records that it is alive
	// (worker_heartbeats). Default 10s.
	HeartbeatEvery time.Duration
	// DeadAfter is how long a worker may stay silent before it is
	// declared lost and its running jobs are rescued (retried from the
	// start on another worker). Default 60s; it must exceed
	// HeartbeatEvery. RescueEvery is how often the leader looks for lost
	// workers. Default 10s.
	DeadAfter   time.Duration
	RescueEvery time.Duration
	// OnLost, when set, is called when this worker finds that it was
	// declared lost (its heartbeat row is gone) or that one of its build
	// attempts was superseded (store.ErrFenced): its running jobs belong to
	// other workers now. The bot's worker exits (the service manager
	// starts it again); without OnLost the worker registers again and the
	// stale attempts end without writing (fenced).
	OnLost func(error)
	// Now is the clock of heartbeats and rescues; default time.Now.
	Now func() time.Time
	// ID names this worker in river_job.attempted_by and its heartbeat;
	// default River's: host name and start time.
	ID     string
	Logger *slog.Logger
}

// Worker is the worker side of the queue: a River client that runs the
// jobs the Inserter (of this process or another) inserted.
type Worker struct {
	client   *client
	db       *store.DB
	cfg      WorkerConfig
	stopping atomic.Bool
	hb       *heartbeat
}

// withDefaults fills in the zero fields and checks the rest.
func (cfg WorkerConfig) withDefaults() (WorkerConfig, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 3 * time.Hour
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = cfg.JobTimeout + 15*time.Minute
	}
	if cfg.RetentionEvery == 0 {
		cfg.RetentionEvery = time.Hour
	}
	if cfg.EventWorkers <= 0 {
		cfg.EventWorkers = 4
	}
	if cfg.PromptWorkers <= 0 {
		cfg.PromptWorkers = 1
	}
	if cfg.RedeliverEvery == 0 {
		cfg.RedeliverEvery = 10 * time.Minute
	}
	if cfg.ScheduleEvery <= 0 {
		cfg.ScheduleEvery = 15 * time.Minute
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 10 * time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = time.Minute
	}
	if cfg.RescueEvery <= 0 {
		cfg.RescueEvery = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Workers <= 0 || cfg.Runner == nil:
		return cfg, errors.New("queue: a worker needs Workers > 0 and a Runner")
	case cfg.JobTimeout < 0:
		// River never rescues a job without a timeout: a dead worker's
		// build would stay "running" for ever.
		return cfg, errors.New("queue: JobTimeout must be positive")
	case cfg.RescueAfter <= cfg.JobTimeout:
		return cfg, fmt.Errorf("queue: RescueAfter (%s) must exceed JobTimeout (%s)", cfg.RescueAfter, cfg.JobTimeout)
	case cfg.DeadAfter <= 2*cfg.HeartbeatEvery:
		// A live worker must never look lost: it has missed at least
		// two heartbeats before it does.
		return cfg, fmt.Errorf("queue: DeadAfter (%s) must exceed twice HeartbeatEvery (%s)", cfg.DeadAfter, cfg.HeartbeatEvery)
	}
	return cfg, nil
}

// Fetch timing. With LISTEN/NOTIFY (PostgreSQL) a worker fetches as soon
// as an insert's transaction commits, at most every fetchCooldown per
// queue; the poll only covers notifications lost while the listening
// connection reconnects. SQLite polls.
const (
	fetchCooldown     = 10 * time.Millisecond
	listenPollDefault = time.Second
	pollOnlyDefault   = 200 * time.Millisecond
)

// NewWorker makes the worker side of the queue, on ins's database. Call
// Start to run it.
func NewWorker(ins *Inserter, cfg WorkerConfig) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	db, log := ins.db, cfg.Logger
	driver, err := db.RiverWorkerDriver()
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	pollOnly := !driver.SupportsListener()
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = listenPollDefault
		if pollOnly {
			cfg.FetchPollInterval = pollOnlyDefault
		}
	}
	w := &Worker{db: db, cfg: cfg}
	workers := river.NewWorkers()
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               log,
		MaxAttempts:          defaultAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		Workers:              workers,
		Middleware:           []rivertype.Middleware{&logContext{log: log}},
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.Workers},
			QueueMaintenance:   {MaxWorkers: 1},
		},
		// Runs whose job was discarded or cancelled unstarted would never
		// end; the reaper ends them.
		PeriodicJobs: []*river.PeriodicJob{
			periodic(cfg.RetentionEvery, RetentionArgs{}, nil),
			periodic(5*time.Minute, ReaperArgs{}, nil),
			periodic(cfg.RescueEvery, RescueArgs{}, &river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1}),
		},
		// On PostgreSQL the driver shares the store's connections and
		// transactions and LISTENs on a connection of its own: inserts
		// wake the workers, and the poll is a fallback. SQLite has no
		// LISTEN: a short poll is what puts a check run on GitHub within
		// a fraction of a second of the webhook.
		FetchPollInterval: cfg.FetchPollInterval,
		FetchCooldown:     min(fetchCooldown, cfg.FetchPollInterval),
		PollOnly:          pollOnly,
	}
	errs := []error{
		addWorker(workers, &buildWorker{runner: cfg.Runner, db: db, quota: cfg.BuildQuota, perInstallation: cfg.MaxBuildsPerInstallation, log: log, stopping: &w.stopping, onLost: cfg.OnLost}),
		addWorker(workers, &rescueWorker{db: db, syncs: ins, deadAfter: cfg.DeadAfter, now: cfg.Now}),
		addWorker(workers, &retentionWorker{db: db, artifacts: cfg.Artifacts, log: log}),
		addWorker(workers, &reaperWorker{db: db, syncs: ins, abandonAfter: cfg.RescueAfter + time.Hour}),
	}
	if cfg.Events != nil {
		errs = append(errs, addWorker(workers, &eventWorker{h: cfg.Events}))
		rc.Queues[QueueEvents] = river.QueueConfig{MaxWorkers: cfg.EventWorkers}
		rc.Queues[QueuePrompts] = river.QueueConfig{MaxWorkers: cfg.PromptWorkers}
	}
	if cfg.Syncer != nil {
		errs = append(errs, addWorker(workers, &syncWorker{s: cfg.Syncer}))
		rc.Queues[QueueReports] = river.QueueConfig{MaxWorkers: 4}
	}
	if cfg.Releaser != nil {
		errs = append(errs, addWorker(workers, &publishWorker{r: cfg.Releaser, db: db, syncs: ins}))
		rc.Queues[QueuePublish] = river.QueueConfig{MaxWorkers: 2}
	}
	if cfg.Redeliver != nil {
		errs = append(errs, addWorker(workers, &redeliverWorker{r: cfg.Redeliver}))
		if _, ok := rc.Queues[QueueEvents]; !ok {
			rc.Queues[QueueEvents] = river.QueueConfig{MaxWorkers: 1}
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs, periodic(cfg.RedeliverEvery, RedeliverArgs{}, &river.InsertOpts{Queue: QueueEvents, MaxAttempts: 1}))
	}
	if cfg.ReleasePruner != nil {
		if cfg.ReleasePruneEvery <= 0 {
			cfg.ReleasePruneEvery = time.Hour
		}
		errs = append(errs, addWorker(workers, &releasePruneWorker{p: cfg.ReleasePruner, log: log}))
		q := river.QueueDefault
		if _, ok := rc.Queues[QueuePublish]; ok {
			q = QueuePublish
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs, periodic(cfg.ReleasePruneEvery, ReleasePruneArgs{}, &river.InsertOpts{Queue: q, MaxAttempts: 1}))
	}
	if cfg.Schedules != nil {
		errs = append(errs, addWorker(workers, &scheduleWorker{s: cfg.Schedules}))
		if _, ok := rc.Queues[QueueEvents]; !ok {
			rc.Queues[QueueEvents] = river.QueueConfig{MaxWorkers: 1}
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs, periodic(cfg.ScheduleEvery, ScheduleArgs{}, &river.InsertOpts{Queue: QueueEvents, MaxAttempts: 1}))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	w.client = c
	w.hb = &heartbeat{db: db, id: c.ID(), every: cfg.HeartbeatEvery, now: cfg.Now, log: log, onLost: cfg.OnLost}
	return w, nil
}

// periodic is a job inserted every period, and once at start.
func periodic(period time.Duration, args river.JobArgs, opts *river.InsertOpts) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(period),
		func() (river.JobArgs, *river.InsertOpts) { return args, opts },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// Start starts the workers and their heartbeat. ctx bounds the start
// only: the workers run until Stop. (River derives its jobs' contexts
// from the one given to its Start; were that ctx the one a SIGTERM ends,
// the signal would reach every running build as a cancel before Stop
// could mark them interrupted, and their runs would end CANCELLED.)
func (w *Worker) Start(ctx context.Context) error {
	if err := w.hb.start(ctx); err != nil {
		return fmt.Errorf("start queue: heartbeat: %w", err)
	}
	if err := w.client.Start(context.WithoutCancel(ctx)); err != nil {
		w.hb.stop()
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for running jobs to finish, until
// ctx ends; then it interrupts them: a build's run is not ended, its job
// is made available again at once (the attempt is not counted) and the
// build starts over on the next worker, or on this one after its restart.
// A worker that stopped cleanly forgets its heartbeat; one whose jobs did
// not return leaves it to go stale, and they are rescued as a lost
// worker's.
func (w *Worker) Stop(ctx context.Context) error {
	// Set before River cancels anything: the builds see an interruption,
	// not a cancel.
	w.stopping.Store(true)
	err := w.client.Stop(ctx)
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = w.client.StopAndCancel(stopCtx)
	}
	w.hb.stop()
	if err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.db.ForgetWorker(fctx, w.client.ID()); err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	return nil
}
