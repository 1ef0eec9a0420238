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
	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/freshness"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/metrics/expose"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/report"
	"github.com/linux-builder/linux-builder/internal/resolve"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// appConfig is what talks to GitHub as the App, from the environment: its
// id and private key (and the API's URLs on GitHub Enterprise Server).
// The webhook secret is not part of it: only a receiver checks signatures,
// and a worker needs none.
type appConfig struct {
	appID             int64
	privateKey        []byte
	apiURL, uploadURL string
	// observer, when set, is told of every exchange with GitHub (metrics).
	observer github.Observer
}

// appConfigFromEnv is the App of GITHUB_APP_ID (what `bot worker` uses).
func appConfigFromEnv() (appConfig, error) {
	var appID int64
	if v := os.Getenv("GITHUB_APP_ID"); v != "" {
		var err error
		if appID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return appConfig{}, fmt.Errorf("GITHUB_APP_ID %q: %w", v, err)
		}
	}
	return appConfigFor(appID)
}

// appConfigFor is the App appID with its key and API URLs from the
// environment (`bot serve` takes the id from webhook.Settings).
func appConfigFor(appID int64) (appConfig, error) {
	c := appConfig{appID: appID}
	if c.appID <= 0 {
		return c, errors.New("GITHUB_APP_ID is required: the GitHub App's numeric id")
	}
	// PEM, PEM with \n escapes, or base64 (github.DecodePrivateKey).
	var err error
	if c.privateKey, err = github.PrivateKeyFromEnv(os.Getenv); err != nil {
		return c, err
	}
	c.apiURL, c.uploadURL = os.Getenv("GITHUB_API_URL"), os.Getenv("GITHUB_UPLOAD_URL")
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
	return github.NewApp(github.Config{AppID: c.appID, PrivateKey: c.privateKey, APIURL: c.apiURL, UploadURL: c.uploadURL, Observer: c.observer})
}

// queueParts are the two halves of the queue of serve and worker.
type queueParts struct {
	ins    *queue.Inserter
	worker *queue.Worker // nil: insert-only
	close  func()        // releases the engine
}

// stop stops the workers (see queue.Worker.Stop).
func (p *queueParts) stop(ctx context.Context) error {
	if p.worker == nil {
		return nil
	}
	return p.worker.Stop(ctx)
}

// startQueue makes the queue of serve and worker, in the order the parts
// need each other: the insert side first, then the handlers that enqueue
// (given the inserter as they are made), then the worker side over them.
// With workers > 0 it runs builds (the real pipeline) and, when gh is set,
// the GitHub work; with none it only inserts jobs.
func startQueue(ctx context.Context, db *store.DB, dataDir string, pf pipelineFlags, workers int, gh *github.App, appID int64) (*queueParts, error) {
	commands, builds, err := quotasFromEnv()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: slog.Default()})
	if err != nil {
		return nil, err
	}
	parts := &queueParts{ins: ins, close: func() {}}
	if workers <= 0 {
		return parts, nil
	}
	deadAfter, err := deadAfterFromEnv()
	if err != nil {
		return nil, err
	}
	// Artifacts go to the artifact store, which every worker reads: the
	// release, a cache hit and retention work on any machine.
	as, err := openArtifacts(ctx, pf.artifactStore, dataDir)
	if err != nil {
		return nil, err
	}
	parts.close = func() { as.Close() }
	if pf.metrics != nil {
		as.SetObserver(pf.metrics)
	}
	wcfg := queue.WorkerConfig{Workers: workers, MaxBuildsPerInstallation: pf.perInstallation, BuildQuota: &builds, DeadAfter: deadAfter, Logger: slog.Default(), Artifacts: as, OnLost: exitLost}
	var reporters []pipeline.Reporter
	var fetcher pipeline.SpecFetcher
	if gh != nil {
		work, err := newGithubWork(db, ins, gh, appID, as, &commands)
		if err != nil {
			parts.close()
			return nil, err
		}
		work.configure(&wcfg)
		reporters, fetcher = []pipeline.Reporter{work.reporter}, specFetcher{app: gh}
	}
	// The worker prunes its engine within DOCKER_CACHE_BUDGET (gc.go).
	budget, on, err := dockerCacheBudget()
	if err != nil {
		parts.close()
		return nil, err
	}
	pf.janitor, pf.cacheBudget = on, budget
	// Runs that end successfully queue their release with ins.
	p, closeEngine, err := newPipeline(ctx, db, dataDir, pf, reporters, fetcher, ins, as)
	if err != nil {
		parts.close()
		return nil, err
	}
	parts.close = func() { closeEngine(); as.Close() }
	sweepWorkDir(ctx, p)
	wcfg.Runner = p
	if parts.worker, err = queue.NewWorker(ins, wcfg); err != nil {
		parts.close()
		return nil, err
	}
	if err := parts.worker.Start(ctx); err != nil {
		parts.close()
		return nil, err
	}
	return parts, nil
}

// githubWork is what a worker with the App's key does for GitHub: decide
// deferred deliveries (pull requests, comment commands), redeliver missed
// deliveries, and keep check runs current. Its parts that enqueue jobs
// are given the queue's insert side as they are made.
type githubWork struct {
	events   *resolve.Events
	redeliv  *resolve.Redeliverer
	checks   *report.Checks
	releases *report.Releases
	reporter *pipelinestore.SyncReporter
	// schedules checks scheduled rebuilds every scheduleEvery.
	schedules     *freshness.Checker
	scheduleEvery time.Duration
	// prune deletes the bot's older releases (RELEASE_KEEP), when set.
	prune *report.ReleasePruner
}

func newGithubWork(db *store.DB, ins *queue.Inserter, gh *github.App, appID int64, as *artifacts.Store, commands *store.Quota) (*githubWork, error) {
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		return nil, err
	}
	gen, err := ai.NewGenerator(&ai.Client{URL: os.Getenv("OLLAMA_URL"), Model: os.Getenv("OLLAMA_MODEL")}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		return nil, err
	}
	keep, err := releaseKeep()
	if err != nil {
		return nil, err
	}
	var prune *report.ReleasePruner
	if keep > 0 {
		prune = &report.ReleasePruner{GitHub: gh, Store: db, Keep: keep, Logger: slog.Default()}
	}
	every, err := durationEnv("SCHEDULE_CHECK_INTERVAL", 15*time.Minute)
	if err != nil {
		return nil, err
	}
	gap, err := durationEnv("SCHEDULE_MIN_INTERVAL", freshness.DefaultMinInterval)
	if err != nil {
		return nil, err
	}
	if gap < freshness.DefaultMinInterval {
		return nil, fmt.Errorf("SCHEDULE_MIN_INTERVAL %s: at least %s", gap, freshness.DefaultMinInterval)
	}
	// A nil store stays a nil interface: the readers say "no artifact store".
	var reader report.ArtifactReader
	var manifests freshness.Artifacts
	if as != nil {
		reader, manifests = as, as
	}
	return &githubWork{
		schedules: &freshness.Checker{Store: db, Jobs: ins, Artifacts: manifests, Logger: slog.Default(), Mirror: mirrorFromEnv(),
			MinInterval: gap},
		scheduleEvery: every,
		events: &resolve.Events{GitHub: gh, Store: db, Jobs: ins, CommandQuota: commands, Logger: slog.Default(),
			Prompter: &resolve.PromptBuilds{GitHub: gh, Generator: gen}},
		redeliv: &resolve.Redeliverer{GitHub: gh, Store: db, AppID: appID, Logger: slog.Default()},
		checks: &report.Checks{GitHub: gh, Store: db, Reports: reports, Name: os.Getenv("CHECK_RUN_NAME"),
			PublicURL: strings.TrimSuffix(os.Getenv("PUBLIC_URL"), "/"), Logger: slog.Default()},
		releases: &report.Releases{GitHub: gh, Store: db, Reports: reports, Link: "https://github.com/linux-builder/linux-builder", Logger: slog.Default(),
			Artifacts: reader},
		reporter: &pipelinestore.SyncReporter{Syncs: ins, Logger: slog.Default()},
		prune:    prune,
	}, nil
}

// configure adds the GitHub work to the worker side's configuration.
func (w *githubWork) configure(c *queue.WorkerConfig) {
	c.Events, c.Redeliver, c.Syncer, c.Releaser = w.events, w.redeliv, w.checks, w.releases
	c.Schedules, c.ScheduleEvery = w.schedules, w.scheduleEvery
	if w.prune != nil {
		c.ReleasePruner = releasePruneJob{p: w.prune}
	}
}

// deadAfterFromEnv is WORKER_DEAD_AFTER: how long a worker may stay
// silent (no heartbeat; they beat every 10s) before its running builds are
// rescued and retried by another worker. Default 60s, at least 30s.
func deadAfterFromEnv() (time.Duration, error) {
	v := os.Getenv("WORKER_DEAD_AFTER")
	if v == "" {
		return time.Minute, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 30*time.Second {
		return 0, fmt.Errorf("%w: WORKER_DEAD_AFTER=%q: want a duration of at least 30s, such as 60s", errUsage, v)
	}
	return d, nil
}

// durationEnv reads a Go duration (15m, 1h) from the environment: def
// when unset.
func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("%w: %s=%q: want a duration of at least 1m, such as 15m", errUsage, name, v)
	}
	return d, nil
}

func newServeCmd() *cobra.Command {
	var (
		sf        storeFlags
		pf        pipelineFlags
		workers   int
		debugAddr string
		// The receiver's settings, shared with cmd/webhook.
		rs = webhook.SettingsFromEnv(os.Getenv, true)
		ms = expose.SettingsFromEnv(os.Getenv)
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the GitHub App: webhook intake and, by default, an in-process build worker",
		Long: `Serve receives GitHub webhooks on --path, records every delivery durably and
queues the builds they ask for; with --workers > 0 (default 1) it also runs
builds. The receiver's settings are the flags below, each defaulting to
its environment variable, as the lean receiver (linux-builder-webhook)
takes them; GITHUB_WEBHOOK_SECRET is environment only. The App's key:
GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH (PEM, PEM with \n escapes,
or base64); GITHUB_API_URL and GITHUB_UPLOAD_URL (GitHub Enterprise
Server); DATA_DIR; ARTIFACT_STORE (--artifact-store: file:///abs/dir or
s3://bucket?endpoint=…&region=…&use_path_style=true with AWS_* credentials;
default <data-dir>/artifacts) and ARTIFACT_RETENTION (default 30d);
RELEASE_KEEP (the bot's releases kept per branch; default all) and
DOCKER_CACHE_BUDGET (default 20GiB; off) — see bot gc --help; COMMAND_QUOTA and BUILD_QUOTA ("installation=N,repo=N,user=N"
per hour); WORKER_DEAD_AFTER (see bot worker --help: what happens to a
build on stop, crash and cancel); SETUP_ENABLED=true with SETUP_TOKEN serves
/setup (see bot setup --help). The REST API (/api/v1, /build/…, /health),
its live events (/api/v1/builds/{id}/events, /ws) and the run pages (/runs)
are served on the same address: API_RATE (each token's limit, default
"10/s burst 20"; off), PUBLIC_URL (absolute links, sign-in), GITHUB_CLIENT_ID
and GITHUB_CLIENT_SECRET (sign-in with GitHub), OLLAMA_URL and OLLAMA_MODEL
(builds from descriptions); tokens: bot token create. See the README's
"Running the GitHub App", "REST API" and "Run pages".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rs.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			if err := validateMetrics(ms); err != nil {
				return err
			}
			ac, err := appConfigFor(rs.AppID)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			sf.url = rs.DatabaseURL
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			db, err := sf.openMigrated(ctx, rs.Migrate)
			if err != nil {
				return err
			}
			defer db.Close()
			m, mexp, err := startMetrics(ctx, ms, db, true)
			if err != nil {
				return err
			}
			ac.observer, pf.metrics = m, m
			gh, err := ac.newApp()
			if err != nil {
				return err
			}
			q, err := startQueue(ctx, db, sf.dataDir, pf, workers, gh, ac.appID)
			if err != nil {
				return err
			}
			defer q.close()
			// Group commit: concurrent deliveries share a transaction.
			committer := store.NewCommitter(db, q.ins, rs.Committers, rs.Batch)
			defer committer.Close()
			wcfg := webhook.Config{Store: db, Intake: committer, Logger: slog.Default(), Observer: m}
			rs.Apply(&wcfg)
			app, err := webhook.New(wcfg)
			if err != nil {
				return err
			}
			mountMetrics(app, mexp)
			// /setup, only with SETUP_ENABLED=true (setup.go).
			if err := mountSetup(app, sf.dataDir, wcfg.Path); err != nil {
				return err
			}
			if strings.HasPrefix(os.Getenv("PUBLIC_URL"), "https://") && strings.TrimSpace(rs.TrustedProxies) == "" {
				// TLS ends in front of the bot, so every client may share
				// the proxy's address and its per-address limits.
				slog.Warn("PUBLIC_URL is https but TRUSTED_PROXIES is empty: behind a reverse proxy every client has the proxy's address, " +
					"and the per-address limits (failed token attempts, browsers' rate, live streams) are shared by all; set TRUSTED_PROXIES (see README)")
			}
			// The REST API, its live events and the run pages (the check
			// runs' details_url) share the webhook's app, address and server
			// limits (see api.Register on timeouts and downloads).
			closeFace, err := serveFace(ctx, app, db, q.ins, gh, ac.apiURL, sf.dataDir, pf.artifactStore, wcfg.MaxConns)
			if err != nil {
				return err
			}
			defer closeFace()
			if debugAddr != "" {
				// Profiles for operators, on their own (loopback) address.
				go func() {
					if err := http.ListenAndServe(debugAddr, nil); err != nil {
						slog.Error("debug server", logging.KeyErr, err)
					}
				}()
			}
			ln, err := net.Listen("tcp", rs.Addr)
			if err != nil {
				return fmt.Errorf("listen %s: %w", rs.Addr, err)
			}
			slog.Info("serving", "addr", ln.Addr().String(), "path", wcfg.Path, "workers", workers, "database", db.URL)
			if err := webhook.Serve(ctx, app, ln); err != nil {
				if ctx.Err() == nil {
					return err
				}
				slog.Error("http shutdown", logging.KeyErr, err)
			}
			slog.Info("shutting down the workers")
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			return q.stop(stopCtx)
		},
	}
	rs.Register(cmd.Flags())
	ms.Register(cmd.Flags())
	redactDefault(cmd, "database-url")
	sf.registerDataDir(cmd)
	pf.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", 1, "in-process build workers (0: intake only)")
	cmd.Flags().StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof) on this address, e.g. 127.0.0.1:6060")
	return cmd
}
