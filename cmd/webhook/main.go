// Command linux-builder-webhook is the GitHub App's webhook receiver on its
// own: it verifies, records and queues deliveries, and nothing else. It is
// what `bot serve --workers 0` does, in a small process that holds no
// GitHub private key and links none of the build machinery, so receivers
// can be run (and restarted) apart from the workers (`bot worker`), which
// decide deferred deliveries and run the builds from the same database.
//
// Configuration: the flags and environment variables of webhook.Settings
// (the same as `bot serve`'s, read the same way; MIGRATE defaults to
// false here) and of expose.Settings (METRICS_ADDR, METRICS_TOKEN: its
// deliveries and their latency, by metrics/lean), LOG_FORMAT and LOG_LEVEL, and GOGC
// (default 50, see main).
// DATABASE_URL must name PostgreSQL: the receiver shares it with the
// workers, and links no SQLite. --version prints the build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gofiber/fiber/v2/middleware/adaptor"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/buildinfo"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/metrics/expose"
	"github.com/linux-builder/linux-builder/internal/metrics/lean"
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
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		slog.Error("linux-builder-webhook", logging.KeyErr, err)
		os.Exit(1)
	}
}

// program is the receiver's name in its messages.
const program = "linux-builder-webhook"

// run reads the settings from the environment and args (--version
// prints the build to stdout and returns) and serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	rs := webhook.SettingsFromEnv(os.Getenv, false)
	ms := expose.SettingsFromEnv(os.Getenv)
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	rs.Register(fs)
	ms.Register(fs)
	// The usage text shows the database URL's default without its password
	// (a mistyped flag prints the usage into the deployment's logs).
	if f := fs.Lookup("database-url"); f != nil {
		f.DefValue = store.RedactURL(f.DefValue)
	}
	version := fs.Bool("version", false, "print the version, the commit and the build date, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *version {
		_, err := fmt.Fprint(stdout, buildinfo.Read().String(program))
		return err
	}
	if err := rs.Validate(); err != nil {
		return err
	}
	if err := ms.Validate(); err != nil {
		return err
	}
	if rs.DatabaseURL == "" {
		return errors.New("DATABASE_URL (--database-url) is required: the receiver records deliveries in the PostgreSQL database its workers share")
	}
	return serve(ctx, rs, ms)
}

func serve(ctx context.Context, rs *webhook.Settings, ms *expose.Settings) error {
	db, err := store.Open(ctx, store.Config{URL: rs.DatabaseURL})
	if err != nil {
		return err
	}
	defer db.Close()
	if rs.Migrate {
		if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
			return err
		}
	}
	q, err := queue.NewInserter(db, queue.InserterConfig{Logger: slog.Default()})
	if err != nil {
		return err
	}
	committer := store.NewCommitter(db, q, rs.Committers, rs.Batch)
	defer committer.Close()
	// The receiver's metrics are its deliveries and their latency (the
	// database's gauges are the workers'), written by metrics/lean: no
	// metrics library (client_golang cost 3.7 MiB of RSS).
	m := lean.New(webhook.Events(), webhook.Outcomes())
	mexp, err := ms.Expose(ctx, m, slog.Default(), true)
	if err != nil {
		return err
	}
	cfg := webhook.Config{Store: db, Intake: committer, Logger: slog.Default(), LeanMemory: true, Observer: m}
	rs.Apply(&cfg)
	app, err := webhook.New(cfg)
	if err != nil {
		return err
	}
	if mexp.MainPort != nil {
		app.Get("/metrics", adaptor.HTTPHandler(mexp.MainPort))
	}
	ln, err := net.Listen("tcp", rs.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", rs.Addr, err)
	}
	slog.Info("receiving webhooks", "addr", ln.Addr().String(), "path", cfg.Path, "database", db.URL)
	err = webhook.Serve(ctx, app, ln)
	slog.Info("stopped")
	return err
}
