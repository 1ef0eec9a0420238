package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/schema"
	"golang.org/x/sync/singleflight"
)

// Dialect names the database behind a DB.
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// SQLiteBackend is SQLite as package store/sqlite plugs it in: the store
// itself links only PostgreSQL, so programs that do not import that
// package (the lean webhook receiver) carry no SQLite.
type SQLiteBackend struct {
	// Open opens the database file at path.
	Open func(path string) (*sql.DB, error)
	// Dialect makes Bun's SQLite dialect (one per database: a dialect
	// holds its tables' metadata).
	Dialect func() schema.Dialect
	// River is River's SQLite driver for db.
	River func(db *sql.DB) riverdriver.Driver[*sql.Tx]
}

var sqliteBackend *SQLiteBackend

// RegisterSQLite makes SQLite available to Open; package store/sqlite
// calls it when imported.
func RegisterSQLite(b SQLiteBackend) { sqliteBackend = &b }

// Config says which database to open.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL. Empty means SQLite.
	URL string
	// DataDir holds the SQLite file (linux-builder.db) when URL is empty.
	DataDir string
	// Logger receives the store's own log lines; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
	// Retry is the transient-error policy; the zero value means
	// DefaultRetry.
	Retry RetryPolicy
}

// DB is an open store.
type DB struct {
	Bun     *bun.DB
	SQL     *sql.DB
	Dialect Dialect
	// URL is where the database is, without a password.
	URL     string
	connURL string
	path    string
	log     *slog.Logger
	now     func() time.Time
	retry   RetryPolicy
	// schemaOKUntil is when Ready next checks the schema (Unix ns; 0:
	// not known to be current).
	schemaOKUntil atomic.Int64
	// Ready's shared check and its answer until readyUntil (migrate.go).
	readyGroup singleflight.Group
	readyMu    sync.Mutex
	readyUntil time.Time
	readyErr   error
	readyRuns  atomic.Int64 // checks made (ReadyChecks)
	// listenPool is River's LISTEN connection (RiverWorkerDriver); nil
	// until a worker asks for it.
	listenMu   sync.Mutex
	listenPool *pgxpool.Pool
}

// Open connects to the database in cfg and checks that it answers.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	db := &DB{log: cfg.Logger, now: cfg.Now, retry: cfg.Retry}
	if db.log == nil {
		db.log = slog.Default()
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.retry == (RetryPolicy{}) {
		db.retry = DefaultRetry
	}
	switch {
	case cfg.URL == "" && sqliteBackend == nil:
		return nil, errors.New("open store: no DATABASE_URL, and this program has no SQLite: set DATABASE_URL to a postgres:// URL")
	case cfg.URL == "":
		dir := cfg.DataDir
		if dir == "" {
			dir = "data"
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store: data directory: %w", err)
		}
		path := filepath.Join(dir, "linux-builder.db")
		sqldb, err := sqliteBackend.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		// SQLite has one writer; one connection serialises access instead
		// of failing with SQLITE_BUSY (River's advice for its driver too).
		sqldb.SetMaxOpenConns(1)
		db.SQL, db.Dialect, db.URL, db.path = sqldb, SQLite, "sqlite://"+path, path
		db.Bun = bun.NewDB(sqldb, sqliteBackend.Dialect())
	case strings.HasPrefix(cfg.URL, "postgres://") || strings.HasPrefix(cfg.URL, "postgresql://"):
		pcfg, err := pgx.ParseConfig(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("open store: DATABASE_URL: %w", err)
		}
		if !strings.Contains(cfg.URL, "default_query_exec_mode") {
			// Bun writes values into the SQL text, so nearly every
			// statement is new: preparing and caching each one (pgx's
			// default) costs a round trip and evicts useful entries. Exec
			// mode sends parse, bind and execute in one round trip.
			pcfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		}
		sqldb := stdlib.OpenDB(*pcfg)
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(10)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db.SQL, db.Dialect, db.URL, db.connURL = sqldb, Postgres, RedactURL(cfg.URL), cfg.URL
		db.Bun = bun.NewDB(sqldb, pgdialect.New())
	default:
		return nil, fmt.Errorf("open store: DATABASE_URL %q: want postgres://… (or nothing, for SQLite)", RedactURL(cfg.URL))
	}
	err := db.withRetry(ctx, "ping", func(ctx context.Context) error { return db.SQL.PingContext(ctx) })
	if err != nil {
		db.SQL.Close()
		return nil, fmt.Errorf("open store %s: %w", db.URL, err)
	}
	return db, nil
}

// secretParams are the connection parameters whose values redact hides:
// passwords, and the paths of the client's key and certificate.
var secretParams = map[string]bool{"password": true, "sslpassword": true, "sslkey": true, "sslcert": true}

// RedactURL removes the secrets from a database URL for logs, errors and
// usage text: the password of the user part, and the secret query
// parameters (whatever their case or percent-encoding; a parameter whose
// name does not decode is hidden too).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(k)
			if err != nil || secretParams[strings.ToLower(strings.TrimSpace(name))] {
				params[i] = k + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// ConnURL is the PostgreSQL URL the store was opened with, password
// included ("" for SQLite): for opening another connection to the same
// database.
func (db *DB) ConnURL() string { return db.connURL }

// Path is the SQLite file ("" for PostgreSQL).
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error {
	db.listenMu.Lock()
	if db.listenPool != nil {
		db.listenPool.Close()
		db.listenPool = nil
	}
	db.listenMu.Unlock()
	if err := db.Bun.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Ping checks that the database answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// migrationsFS returns the migration files of db's dialect.
func (db *DB) migrationsFS(all fs.FS) (fs.FS, error) {
	sub, err := fs.Sub(all, "migrations/"+string(db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", db.Dialect, err)
	}
	return sub, nil
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
