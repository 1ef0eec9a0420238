package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun/migrate"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/logging"
)

// RiverDriver returns River's driver for db: the same *sql.DB, so River's
// job inserts can share the store's transactions.
func (db *DB) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if db.Dialect == SQLite {
		return sqliteBackend.River(db.SQL)
	}
	return riverdatabasesql.New(db.SQL)
}

// RiverWorkerDriver is RiverDriver for a River client that runs jobs. On
// PostgreSQL it also LISTENs, on a connection of its own (a pgx pool made
// from the same URL, closed with db), for the NOTIFY that every job insert
// sends when its transaction commits, so workers in any process start new
// jobs at once instead of at their next poll. Jobs are still fetched,
// inserted and completed on db's own connections and transactions. SQLite
// has no LISTEN: its driver polls.
func (db *DB) RiverWorkerDriver() (riverdriver.Driver[*sql.Tx], error) {
	if db.Dialect == SQLite {
		return db.RiverDriver(), nil
	}
	db.listenMu.Lock()
	defer db.listenMu.Unlock()
	if db.listenPool == nil {
		cfg, err := pgxpool.ParseConfig(db.connURL)
		if err != nil {
			// pgx's error redacts the password; the URL was parsed before.
			return nil, fmt.Errorf("river listener: %w", err)
		}
		// One connection, held by River's notifier for as long as it
		// listens (River takes it out of the pool); the second is for
		// reconnecting while a broken one is being closed.
		cfg.MaxConns, cfg.MinConns = 2, 0
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return nil, fmt.Errorf("river listener %s: %w", db.URL, err)
		}
		db.listenPool = pool
	}
	return riverdatabasesql.NewWithPgxListener(db.SQL, db.listenPool), nil
}

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Name    string
	Applied bool
}

func (db *DB) migrator(all fs.FS) (*migrate.Migrator, error) {
	sub, err := db.migrationsFS(all)
	if err != nil {
		return nil, err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return migrate.NewMigrator(db.Bun, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// withLockedMigrator runs fn with Bun's migrator initialised and its lock
// held, so concurrent start-ups apply each migration once.
func (db *DB) withLockedMigrator(ctx context.Context, all fs.FS, fn func(*migrate.Migrator) error) error {
	m, err := db.migrator(all)
	if err != nil {
		return err
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrate: init: %w", err)
	}
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		if err := m.Unlock(context.WithoutCancel(ctx)); err != nil {
			db.log.ErrorContext(ctx, "migrate: unlock", logging.KeyErr, err)
		}
	}()
	return fn(m)
}

// MigrateUp applies every pending migration of the application schema
// (from all, normally linuxbuilder.Migrations) and then River's. It
// returns the names applied.
func (db *DB) MigrateUp(ctx context.Context, all fs.FS) ([]string, error) {
	defer db.forgetReady()
	var applied []string
	err := db.withLockedMigrator(ctx, all, func(m *migrate.Migrator) error {
		group, err := m.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		for _, mg := range group.Migrations {
			applied = append(applied, mg.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rm, err := rivermigrate.New(db.RiverDriver(), &rivermigrate.Config{Logger: db.log})
	if err != nil {
		return nil, fmt.Errorf("migrate river: %w", err)
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate river up: %w", err)
	}
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river_%03d", v.Version))
	}
	return applied, nil
}

// MigrateDown rolls back the last group of application migrations (River's
// tables are left alone: they may hold other applications' jobs).
func (db *DB) MigrateDown(ctx context.Context, all fs.FS) ([]string, error) {
	defer db.forgetReady()
	var names []string
	err := db.withLockedMigrator(ctx, all, func(m *migrate.Migrator) error {
		group, err := m.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		for _, mg := range group.Migrations {
			names = append(names, mg.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// MigrationsStatus lists the application migrations and River's schema
// version.
func (db *DB) MigrationsStatus(ctx context.Context, all fs.FS) ([]MigrationStatus, error) {
	m, err := db.migrator(all)
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate: init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var out []MigrationStatus
	for _, mg := range ms {
		out = append(out, MigrationStatus{Name: mg.Name + "_" + mg.Comment, Applied: mg.IsApplied()})
	}
	rm, err := rivermigrate.New(db.RiverDriver(), &rivermigrate.Config{Logger: db.log})
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil && !missingTable(err) {
		return nil, fmt.Errorf("river migration status: %w", err)
	}
	have := map[int]bool{}
	for _, v := range existing {
		have[v.Version] = true
	}
	for _, v := range rm.AllVersions() {
		out = append(out, MigrationStatus{Name: fmt.Sprintf("river_%03d_%s", v.Version, v.Name), Applied: have[v.Version]})
	}
	return out, nil
}

// ErrSchemaNotCurrent is returned by Ready when the database lacks
// migrations this program embeds (never migrated, or behind): every
// delivery would then fail, so the process is not ready.
var ErrSchemaNotCurrent = errors.New("database schema is not current")

// schemaCacheTTL is how long a current schema is taken as current
// without asking again (/readyz is polled; a schema rarely goes back).
const schemaCacheTTL = 10 * time.Second

// readyTTL is how long Ready's answer, either way, serves every caller:
// /readyz sits on the public port, and a flood of it must not become a
// flood of pings and schema queries (or take the pool's connections).
const readyTTL = time.Second

// Ready checks that the database answers and that every embedded
// migration (linuxbuilder.Migrations: the application's and River's) is
// applied; the error wraps ErrSchemaNotCurrent and names what is missing
// when the schema is behind. Concurrent callers share one check, whose
// answer serves for readyTTL (a current schema is not asked again for
// schemaCacheTTL); migrating through this DB forgets it.
func (db *DB) Ready(ctx context.Context) error {
	db.readyMu.Lock()
	if time.Now().Before(db.readyUntil) {
		err := db.readyErr
		db.readyMu.Unlock()
		return err
	}
	db.readyMu.Unlock()
	ch := db.readyGroup.DoChan("ready", func() (any, error) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := db.checkReady(cctx)
		db.readyMu.Lock()
		db.readyErr, db.readyUntil = err, time.Now().Add(readyTTL)
		db.readyMu.Unlock()
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadyChecks is how many readiness checks Ready has made (each a ping
// and, at most every schemaCacheTTL, the schema's two queries).
func (db *DB) ReadyChecks() int64 { return db.readyRuns.Load() }

// forgetReady makes the next Ready check anew (the schema changed).
func (db *DB) forgetReady() {
	db.readyMu.Lock()
	db.readyUntil = time.Time{}
	db.readyMu.Unlock()
	db.schemaOKUntil.Store(0)
}

// checkReady is one readiness check: a ping, then the schema (unless a
// current one was seen lately).
func (db *DB) checkReady(ctx context.Context) error {
	db.readyRuns.Add(1)
	if err := db.Ping(ctx); err != nil {
		return err
	}
	if until := db.schemaOKUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return nil
	}
	if err := db.SchemaCurrent(ctx, linuxbuilder.Migrations); err != nil {
		return err
	}
	db.schemaOKUntil.Store(time.Now().Add(schemaCacheTTL).UnixNano())
	return nil
}

// SchemaCurrent checks, reading only, that every migration of all and
// every River migration is applied (two queries; nothing is created).
func (db *DB) SchemaCurrent(ctx context.Context, all fs.FS) error {
	m, err := db.migrator(all)
	if err != nil {
		return err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if missingTable(err) {
		return fmt.Errorf("%w: the database was never migrated: run `bot migrate up`, or start with --migrate (MIGRATE=true)", ErrSchemaNotCurrent)
	}
	if err != nil {
		return fmt.Errorf("schema check: %w", err)
	}
	var pending []string
	for _, mg := range ms {
		if !mg.IsApplied() {
			pending = append(pending, mg.Name+"_"+mg.Comment)
		}
	}
	rm, err := rivermigrate.New(db.RiverDriver(), &rivermigrate.Config{Logger: db.log})
	if err != nil {
		return fmt.Errorf("schema check: river migrations: %w", err)
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil && !missingTable(err) {
		return fmt.Errorf("schema check: river: %w", err)
	}
	have := map[int]bool{}
	for _, v := range existing {
		have[v.Version] = true
	}
	for _, v := range rm.AllVersions() {
		if !have[v.Version] {
			pending = append(pending, fmt.Sprintf("river_%03d_%s", v.Version, v.Name))
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %d migrations pending (first %s): run `bot migrate up`, or start with --migrate (MIGRATE=true)",
			ErrSchemaNotCurrent, len(pending), pending[0])
	}
	return nil
}

// missingTable tells whether err is PostgreSQL's or SQLite's "no such
// table" (the schema was never made).
func missingTable(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "no such table"))
}
