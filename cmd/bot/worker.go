package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/metrics/expose"
)

func newWorkerCmd() *cobra.Command {
	var (
		sf      storeFlags
		pf      pipelineFlags
		workers int
		migrate bool
		ms      = expose.SettingsFromEnv(os.Getenv)
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run build workers on the shared queue",
		Long: `Worker takes build jobs from the queue in the store's database and runs the
pipeline for each. Run one per machine against the same PostgreSQL
(DATABASE_URL) to share the work: River hands each job to one worker.

What happens to a build:
  stop    SIGINT/SIGTERM: the worker takes no new job and lets running builds
          finish for up to WORKER_STOP_GRACE (default 10 minutes). Builds still running then are
          interrupted, not cancelled: the run goes back to queued ("interrupted:
          the worker is stopping; the build will be retried" in its log and on
          its check run) and its job is available at once, without counting an
          attempt. The next worker — or this one after its restart — builds it
          again from the start.
  crash   kill -9, a lost machine or network: every worker records a
          heartbeat every 10s; one silent for WORKER_DEAD_AFTER (default 60s)
          is declared lost and its running jobs are rescued within seconds
          (by a job that River's elected leader schedules every 10s): the run
          starts over on another worker ("retrying after a worker was lost").
          A lost build uses one of its 3 attempts; River's own rescuer
          (after the job timeout + 15 min) stays as the backstop.
  pause   SIGSTOP, a frozen machine or a healed network: a worker silent past
          WORKER_DEAD_AFTER had its jobs rescued; when it resumes, its stale
          attempts' writes are refused (fenced) and it exits with status 75
          so that its service manager starts it again.
  engine  dockerd restarted, crashed or its socket gone under a build, a
          save or an export (the connection broke, or the call failed and the
          engine then does not answer a Ping): the run goes back to queued
          ("retrying after the Docker engine was lost") and its job is retried
          with the attempt counted; the retried attempt waits up to 2 minutes
          for the engine. Losing it in the last of the 3 attempts ends the run
          FAILED, naming the loss. A RUN step that fails while the engine
          answers is the build's own failure, never retried.
  cancel  only a user's cancel — the check run's Cancel button, /build cancel,
          a newer push to the same branch or pull request — ends a run
          CANCELLED; it is never retried.
A run that starts over first removes what the earlier attempt left: its
artifacts directory (partial *.part files, .iso-work-* and work/), and its
images and containers (labelled io.linux-builder.run-key).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			grace, err := stopGraceFromEnv()
			if err != nil {
				return err
			}
			if err := validateMetrics(ms); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			db, err := sf.openMigrated(ctx, migrate)
			if err != nil {
				return err
			}
			defer db.Close()
			// A worker has no main port: its metrics are on METRICS_ADDR.
			m, _, err := startMetrics(ctx, ms, db, false)
			if err != nil {
				return err
			}
			pf.metrics = m
			gh, appID := workerAppObserved(m)
			q, err := startQueue(ctx, db, sf.dataDir, pf, workers, gh, appID)
			if err != nil {
				return err
			}
			defer q.close()
			slog.Info("worker started", "workers", workers, "database", db.URL)
			<-ctx.Done()
			slog.Info("worker stopping")
			stopCtx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			return q.stop(stopCtx)
		},
	}
	sf.register(cmd)
	pf.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", 1, "builds this process runs at once")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations at start")
	ms.Register(cmd.Flags())
	return cmd
}

// workerApp is the GitHub App when it is configured: it fetches GitHub
// runs' specs and decides deferred deliveries. A worker without it can
// still build CLI and API runs.
func workerApp() (*github.App, int64) { return workerAppObserved(nil) }

// workerAppObserved is workerApp whose exchanges with GitHub obs is told
// of (nil: none).
func workerAppObserved(obs github.Observer) (*github.App, int64) {
	ac, err := appConfigFromEnv()
	ac.observer = obs
	if err != nil {
		slog.Warn("GitHub App not configured: runs from GitHub cannot fetch their spec, pull requests and commands wait for a worker that has it", "reason", err)
		return nil, 0
	}
	app, err := ac.newApp()
	if err != nil {
		slog.Warn("GitHub App not usable", logging.KeyErr, err)
		return nil, 0
	}
	return app, ac.appID
}
