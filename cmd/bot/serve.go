package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // for --debug-addr
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/bridge"
	"github.com/linux-builder/linux-builder/internal/deferred"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/report"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// appConfig is the GitHub App configuration, from the environment.
type appConfig struct {
	appID                     int64
	privateKey                []byte
	secret, apiURL, uploadURL string
}

func appConfigFromEnv() (appConfig, error) {
	var c appConfig
	var err error
	if v := os.Getenv("GITHUB_APP_ID"); v != "" {
		if c.appID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return c, fmt.Errorf("GITHUB_APP_ID %q: %w", v, err)
		}
	}
	c.privateKey = []byte(os.Getenv("GITHUB_PRIVATE_KEY"))
	if p := os.Getenv("GITHUB_PRIVATE_KEY_PATH"); p != "" && len(c.privateKey) == 0 {
		if c.privateKey, err = os.ReadFile(p); err != nil {
			return c, fmt.Errorf("GITHUB_PRIVATE_KEY_PATH: %w", err)
		}
	}
	c.secret = os.Getenv("GITHUB_WEBHOOK_SECRET")
	c.apiURL, c.uploadURL = os.Getenv("GITHUB_API_URL"), os.Getenv("GITHUB_UPLOAD_URL")
	switch {
	case c.appID <= 0:
		return c, errors.New("GITHUB_APP_ID is required: the GitHub App's numeric id")
	case len(c.privateKey) == 0:
		return c, errors.New("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required")
	case c.secret == "":
		return c, errors.New("GITHUB_WEBHOOK_SECRET is required: the bot does not accept unsigned webhooks")
	}
	return c, nil
}

// quotasFromEnv reads COMMAND_QUOTA and BUILD_QUOTA (per hour, by scope:
// "installation=300,repo=100,user=30"; 0 is unlimited), over the defaults.
func quotasFromEnv() (commands, builds store.Quota, err error) {
	if commands, err = store.ParseQuota(os.Getenv("COMMAND_QUOTA"), store.DefaultCommandQuota); err != nil {
		return commands, builds, fmt.Errorf("COMMAND_QUOTA: %w", err)
	}
	if builds, err = store.ParseQuota(os.Getenv("BUILD_QUOTA"), store.DefaultBuildQuota); err != nil {
		return commands, builds, fmt.Errorf("BUILD_QUOTA: %w", err)
	}
	return commands, builds, nil
}

func (c appConfig) newApp() (*github.App, error) {
	return github.NewApp(github.Config{AppID: c.appID, PrivateKey: c.privateKey, APIURL: c.apiURL, UploadURL: c.uploadURL})
}

// startQueue makes and starts the queue of serve and worker: with
// workers > 0 it runs builds (the real pipeline) and, when gh is set, the
// GitHub work; with none it only inserts jobs. close releases the engine.
func startQueue(ctx context.Context, db *store.DB, dataDir string, pf pipelineFlags, workers int, gh *github.App, appID int64) (*queue.Queue, func(), error) {
	qcfg := queue.Config{Logger: slog.Default()}
	commands, builds, err := quotasFromEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	qcfg.BuildQuota = &builds
	closeEngine := func() {}
	var work *githubWork
	if workers > 0 {
		var reporters []pipeline.Reporter
		var fetcher pipeline.SpecFetcher
		var publisher pipeline.Publisher
		if gh != nil {
			var err error
			if work, err = newGithubWork(db, gh, appID, dataDir); err != nil {
				return nil, nil, err
			}
			work.events.CommandQuota = &commands
			work.configure(&qcfg)
			reporters, fetcher, publisher = []pipeline.Reporter{work.reporter}, specFetcher{app: gh}, work.publisher
		}
		p, eng, err := newPipeline(ctx, db, dataDir, pf, reporters, fetcher, publisher)
		if err != nil {
			return nil, nil, err
		}
		closeEngine = func() { eng.Close() }
		qcfg.Workers, qcfg.Runner, qcfg.MaxBuildsPerInstallation = workers, p, pf.perInstallation
	}
	q, err := queue.New(db, qcfg)
	if err != nil {
		closeEngine()
		return nil, nil, err
	}
	if work != nil {
		work.attach(q)
	}
	if err := q.Start(ctx); err != nil {
		closeEngine()
		return nil, nil, err
	}
	return q, closeEngine, nil
}

// githubWork is what a worker with the App's key does for GitHub: decide
// deferred deliveries (pull requests, comment commands), redeliver missed
// deliveries, and keep check runs current.
type githubWork struct {
	events    *deferred.Events
	redeliv   *deferred.Redeliverer
	checks    *report.Checks
	releases  *report.Releases
	reporter  *bridge.SyncReporter
	publisher *bridge.ReleasePublisher
}

func newGithubWork(db *store.DB, gh *github.App, appID int64, dataDir string) (*githubWork, error) {
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		return nil, err
	}
	gen, err := ai.NewGenerator(&ai.Client{URL: os.Getenv("OLLAMA_URL"), Model: os.Getenv("OLLAMA_MODEL")}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		return nil, err
	}
	return &githubWork{
		events: &deferred.Events{GitHub: gh, Store: db, Logger: slog.Default(),
			Prompter: &deferred.PromptBuilds{GitHub: gh, Generator: gen}},
		redeliv: &deferred.Redeliverer{GitHub: gh, Store: db, AppID: appID, Logger: slog.Default()},
		checks: &report.Checks{GitHub: gh, Store: db, Reports: reports, Name: os.Getenv("CHECK_RUN_NAME"),
			PublicURL: strings.TrimSuffix(os.Getenv("PUBLIC_URL"), "/"), Logger: slog.Default()},
		releases: &report.Releases{GitHub: gh, Store: db, Reports: reports, Link: "https://github.com/linux-builder/linux-builder", Logger: slog.Default(),
			ArtifactsDir: artifactsDir(dataDir)},
		reporter:  &bridge.SyncReporter{Logger: slog.Default()},
		publisher: &bridge.ReleasePublisher{},
	}, nil
}

// configure adds the GitHub work to a queue's configuration.
func (w *githubWork) configure(c *queue.Config) {
	c.Events, c.Redeliver, c.Syncer, c.Releaser = w.events, w.redeliv, w.checks, w.releases
}

// attach gives the parts that enqueue jobs the queue they enqueue on.
func (w *githubWork) attach(q *queue.Queue) {
	w.events.Jobs, w.reporter.Q, w.publisher.Q = q, q, q
}

func newServeCmd() *cobra.Command {
	var (
		sf         storeFlags
		pf         pipelineFlags
		workers    int
		migrate    bool
		path, addr string
		specPath   string
		debugAddr  string
		committers int
		maxBatch   int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the GitHub App: webhook intake and, by default, an in-process build worker",
		Long: `Serve receives GitHub webhooks on --path, records every delivery durably and
queues the builds they ask for; with --workers > 0 (default 1) it also runs
builds. Configuration: GITHUB_APP_ID, GITHUB_PRIVATE_KEY or
GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET, GITHUB_API_URL and
GITHUB_UPLOAD_URL (GitHub Enterprise Server), DATABASE_URL, DATA_DIR, HOST, PORT,
WEBHOOK_BODY_BUDGET, WEBHOOK_MAX_CONNS, WEBHOOK_REPLAY_WINDOW;
COMMAND_QUOTA and BUILD_QUOTA ("installation=N,repo=N,user=N" per hour).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := appConfigFromEnv()
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			db, err := sf.openMigrated(ctx, migrate)
			if err != nil {
				return err
			}
			defer db.Close()
			gh, err := ac.newApp()
			if err != nil {
				return err
			}
			q, closeQueue, err := startQueue(ctx, db, sf.dataDir, pf, workers, gh, ac.appID)
			if err != nil {
				return err
			}
			defer closeQueue()
			// Group commit: concurrent deliveries share a transaction.
			committer := store.NewCommitter(db, q, committers, maxBatch)
			defer committer.Close()
			wcfg := webhook.Config{Secret: ac.secret, Path: path, AppID: ac.appID, SpecPath: specPath,
				Store: db, Intake: committer, Logger: slog.Default()}
			if err := webhook.LimitsFromEnv(&wcfg, os.Getenv); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			app, err := webhook.New(wcfg)
			if err != nil {
				return err
			}
			if debugAddr != "" {
				// Profiles for operators, on their own (loopback) address.
				go func() {
					if err := http.ListenAndServe(debugAddr, nil); err != nil {
						slog.Error("debug server", "err", err)
					}
				}()
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen %s: %w", addr, err)
			}
			slog.Info("serving", "addr", ln.Addr().String(), "path", path, "workers", workers, "database", db.URL)
			if err := webhook.Serve(ctx, app, ln); err != nil {
				if ctx.Err() == nil {
					return err
				}
				slog.Error("http shutdown", "err", err)
			}
			slog.Info("shutting down the workers")
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			return q.Stop(stopCtx)
		},
	}
	sf.register(cmd)
	pf.register(cmd.Flags())
	host, port := os.Getenv("HOST"), os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	cmd.Flags().StringVar(&addr, "addr", net.JoinHostPort(host, port), "listen address (env HOST, PORT)")
	cmd.Flags().StringVar(&path, "path", "/webhook", "webhook path")
	cmd.Flags().StringVar(&specPath, "spec-path", "linux-build.yaml", "path of the spec in repositories")
	cmd.Flags().IntVar(&workers, "workers", 1, "in-process build workers (0: intake only)")
	cmd.Flags().BoolVar(&migrate, "migrate", true, "apply pending migrations at start")
	cmd.Flags().IntVar(&committers, "intake-committers", 2, "transactions recording deliveries at once (group commit)")
	cmd.Flags().IntVar(&maxBatch, "intake-batch", 256, "most deliveries recorded in one transaction")
	cmd.Flags().StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof) on this address, e.g. 127.0.0.1:6060")
	return cmd
}
