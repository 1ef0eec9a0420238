// Command linux-builder-webhook is the GitHub App's webhook receiver on its
// own: it verifies, records and queues deliveries, and nothing else. It is
// what `bot serve --workers 0` does, in a small process that holds no
// GitHub private key and links none of the build machinery, so receivers
// can be run (and restarted) apart from the workers (`bot worker`), which
// decide deferred deliveries and run the builds from the same database.
//
// Configuration (environment): GITHUB_WEBHOOK_SECRET (required),
// GITHUB_APP_ID (required), DATABASE_URL (PostgreSQL, required: the
// receiver shares it with the workers, and links no SQLite), HOST, PORT,
// WEBHOOK_PATH, SPEC_PATH, LOG_FORMAT, LOG_LEVEL, MIGRATE (apply pending
// migrations at start: true or false, default false), INTAKE_COMMITTERS,
// INTAKE_BATCH, WEBHOOK_BODY_BUDGET, WEBHOOK_MAX_CONNS,
// WEBHOOK_REPLAY_WINDOW (see webhook.LimitsFromEnv), GOGC (default 50,
// see main).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

func main() {
	// The receiver's live heap is small (a few MB: the deliveries in
	// flight and their connections' buffers), so Go's default GOGC of 100
	// makes its peak memory mostly garbage waiting for the next cycle.
	// Half that headroom trims about 3 MB at full load for a few percent
	// of throughput (scripts/loadtest.sh). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	logger, err := logging.New(os.Stderr, logging.FromEnv())
	if err != nil {
		fmt.Fprintln(os.Stderr, "linux-builder-webhook:", err)
		os.Exit(2)
	}
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("linux-builder-webhook", "err", err)
		os.Exit(1)
	}
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, v, err)
	}
	return n, nil
}

func run(ctx context.Context) error {
	secret := os.Getenv("GITHUB_WEBHOOK_SECRET")
	if secret == "" {
		return errors.New("GITHUB_WEBHOOK_SECRET is required: the bot does not accept unsigned webhooks")
	}
	// Delivery ids are unique per app: without the app's id, deliveries
	// of two apps (or a replay across them) could not be told apart.
	appID, err := envInt("GITHUB_APP_ID", 0)
	if err != nil {
		return err
	}
	if appID <= 0 {
		return errors.New("GITHUB_APP_ID is required: the GitHub App's numeric id (deliveries are recorded and deduplicated per app)")
	}
	committers, err := envInt("INTAKE_COMMITTERS", 2)
	if err != nil {
		return err
	}
	batch, err := envInt("INTAKE_BATCH", 256)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	var cfg webhook.Config
	if err := webhook.LimitsFromEnv(&cfg, os.Getenv); err != nil {
		return err
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return errors.New("DATABASE_URL is required: the receiver records deliveries in the PostgreSQL database its workers share")
	}
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		return err
	}
	defer db.Close()
	if os.Getenv("MIGRATE") == "true" {
		if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
			return err
		}
	}
	q, err := queue.NewInserter(db, queue.InserterConfig{Logger: slog.Default()})
	if err != nil {
		return err
	}
	committer := store.NewCommitter(db, q, committers, batch)
	defer committer.Close()
	path := os.Getenv("WEBHOOK_PATH")
	if path == "" {
		path = "/webhook"
	}
	cfg.Secret, cfg.Path, cfg.AppID, cfg.SpecPath = secret, path, int64(appID), os.Getenv("SPEC_PATH")
	cfg.Store, cfg.Intake, cfg.Logger, cfg.LeanMemory = db, committer, slog.Default(), true
	app, err := webhook.New(cfg)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(os.Getenv("HOST"), port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	slog.Info("receiving webhooks", "addr", ln.Addr().String(), "path", path, "database", db.URL)
	err = webhook.Serve(ctx, app, ln)
	slog.Info("stopped")
	return err
}
