package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
)

func newWorkerCmd() *cobra.Command {
	var (
		sf      storeFlags
		pf      pipelineFlags
		workers int
		migrate bool
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run build workers on the shared queue",
		Long: `Worker takes build jobs from the queue in the store's database and runs the
pipeline for each. Run one per machine against the same PostgreSQL
(DATABASE_URL) to share the work: River hands each job to one worker and
rescues the jobs of a worker that dies. Artifacts go to the artifact store
(--artifact-store, ARTIFACT_STORE: file:///abs/dir for one machine, default
<data-dir>/artifacts; s3://bucket?endpoint=…&region=…&use_path_style=true,
credentials from AWS_*, for several), which every worker reads to publish
and to reuse; ARTIFACT_RETENTION (default 30d) is how long they are kept. SIGINT/SIGTERM stop taking jobs and let
running builds finish (up to 10 minutes, then they are cancelled and retried
elsewhere).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			db, err := sf.openMigrated(ctx, migrate)
			if err != nil {
				return err
			}
			defer db.Close()
			gh, appID := workerApp()
			q, err := startQueue(ctx, db, sf.dataDir, pf, workers, gh, appID)
			if err != nil {
				return err
			}
			defer q.close()
			slog.Info("worker started", "workers", workers, "database", db.URL)
			<-ctx.Done()
			slog.Info("worker stopping")
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			return q.stop(stopCtx)
		},
	}
	sf.register(cmd)
	pf.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", 1, "builds this process runs at once")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations at start")
	return cmd
}

// workerApp is the GitHub App when it is configured: it fetches GitHub
// runs' specs and decides deferred deliveries. A worker without it can
// still build CLI and API runs.
func workerApp() (*github.App, int64) {
	ac, err := appConfigFromEnv()
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
