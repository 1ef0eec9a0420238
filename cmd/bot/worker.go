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
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
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
rescues the jobs of a worker that dies. SIGINT/SIGTERM stop taking jobs and let
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
			p, eng, err := newPipeline(ctx, db, sf.dataDir, pf, nil, workerFetcher())
			if err != nil {
				return err
			}
			defer eng.Close()
			q, err := queue.New(db, queue.Config{Workers: workers, Runner: p, Logger: slog.Default()})
			if err != nil {
				return err
			}
			if err := q.Start(ctx); err != nil {
				return err
			}
			slog.Info("worker started", "workers", workers, "database", db.URL)
			<-ctx.Done()
			slog.Info("worker stopping")
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			return q.Stop(stopCtx)
		},
	}
	sf.register(cmd)
	pf.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", 1, "builds this process runs at once")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations at start")
	return cmd
}

// workerFetcher fetches GitHub runs' specs when the App is configured; a
// worker without it can still build CLI and API runs.
func workerFetcher() pipeline.SpecFetcher {
	ac, err := appConfigFromEnv()
	if err != nil {
		slog.Warn("GitHub App not configured: runs from GitHub cannot fetch their spec", "reason", err)
		return nil
	}
	app, err := ac.newApp()
	if err != nil {
		slog.Warn("GitHub App not usable", "err", err)
		return nil
	}
	return github.SpecFetcher{App: app}
}
