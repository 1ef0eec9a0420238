package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/store"
	_ "github.com/linux-builder/linux-builder/internal/store/sqlite" // SQLite when DATABASE_URL is empty
)

// storeFlags are the database settings shared by every command that opens
// the store.
type storeFlags struct {
	url, dataDir string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "database-url", os.Getenv("DATABASE_URL"), "postgres:// URL (env DATABASE_URL); empty means a SQLite file in --data-dir")
	redactDefault(cmd, "database-url")
	f.registerDataDir(cmd)
}

// redactDefault makes the usage text show flag name's default (a database
// URL from the environment) without its password: --help and a mistyped
// flag print the usage, often into logs.
func redactDefault(cmd *cobra.Command, name string) {
	if f := cmd.Flags().Lookup(name); f != nil {
		f.DefValue = store.RedactURL(f.DefValue)
	}
}

// registerDataDir registers --data-dir alone (serve takes --database-url
// from webhook.Settings).
func (f *storeFlags) registerDataDir(cmd *cobra.Command) {
	def := os.Getenv("DATA_DIR")
	if def == "" {
		def = "data"
	}
	cmd.Flags().StringVar(&f.dataDir, "data-dir", def, "directory for the SQLite database and artifacts (env DATA_DIR)")
}

// open resolves the data directory to an absolute path (the pipeline
// records artifact locations under it; a release refuses relative ones)
// and opens the store.
func (f *storeFlags) open(ctx context.Context) (*store.DB, error) {
	abs, err := filepath.Abs(f.dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", f.dataDir, err)
	}
	f.dataDir = abs
	return store.Open(ctx, store.Config{URL: f.url, DataDir: f.dataDir})
}

// workDir is where runs make their files before they go to the artifact
// store: <dataDir>/work/<run>, removed when the run ends.
func workDir(dataDir string) string { return filepath.Join(dataDir, "work") }

// openMigrated opens the store and, when migrate is set, applies pending
// migrations (the long-running commands and bot build).
func (f *storeFlags) openMigrated(ctx context.Context, migrate bool) (*store.DB, error) {
	db, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	if migrate {
		applied, err := db.MigrateUp(ctx, linuxbuilder.Migrations)
		if err != nil {
			db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			slog.Info("migrations applied", "count", len(applied))
		}
	}
	return db, nil
}

func newMigrateCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "migrate up|down|status",
		Short: "Apply, roll back or list the database migrations",
		Long: `migrate up applies every pending migration (the bot's tables, then River's);
migrate down rolls back the last group of the bot's migrations (River's tables
stay); migrate status lists each migration and whether it is applied.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
				return fmt.Errorf("%w: migrate needs one of up, down, status", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			switch args[0] {
			case "up":
				applied, err := db.MigrateUp(ctx, linuxbuilder.Migrations)
				if err != nil {
					return err
				}
				if len(applied) == 0 {
					fmt.Fprintf(out, "%s: up to date\n", db.URL)
				}
				for _, name := range applied {
					fmt.Fprintf(out, "applied %s\n", name)
				}
			case "down":
				names, err := db.MigrateDown(ctx, linuxbuilder.Migrations)
				if err != nil {
					return err
				}
				if len(names) == 0 {
					fmt.Fprintln(out, "nothing to roll back")
				}
				for _, name := range names {
					fmt.Fprintf(out, "rolled back %s\n", name)
				}
			case "status":
				st, err := db.MigrationsStatus(ctx, linuxbuilder.Migrations)
				if err != nil {
					return err
				}
				for _, m := range st {
					state := "pending"
					if m.Applied {
						state = "applied"
					}
					fmt.Fprintf(out, "%-8s %s\n", state, m.Name)
				}
			}
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
