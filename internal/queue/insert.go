package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/store"
)

// InserterConfig configures an Inserter.
type InserterConfig struct {
	Logger *slog.Logger
}

// Inserter is the insert side of the queue: a River client without
// workers. It is made first, from the database alone, and handed to
// everything that asks for work (the store's intake and Finish, the
// pipeline's reporter, the deferred-event handlers), before any worker
// exists. It implements store.Jobs and store.ReleaseJobs.
type Inserter struct {
	client *client
	db     *store.DB
	log    *slog.Logger
}

var (
	_ store.Jobs        = (*Inserter)(nil)
	_ store.ReleaseJobs = (*Inserter)(nil)
)

// NewInserter makes the insert side of the queue on db.
func NewInserter(db *store.DB, cfg InserterConfig) (*Inserter, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// An insert committed on PostgreSQL notifies the workers of its
	// queues (pg_notify in the same transaction). River sends at most one
	// notification per queue and FetchCooldown from each client: with its
	// default (100ms) a job inserted soon after another would wait for
	// the workers' next poll. Every transaction notifies, then (group
	// commit makes them few).
	c, err := river.NewClient(db.RiverDriver(), &river.Config{Logger: log, MaxAttempts: defaultAttempts, FetchCooldown: river.FetchCooldownMin})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Inserter{client: c, db: db, log: log}, nil
}

// insertMany inserts params in tx, or on their own when tx is nil.
func (q *Inserter) insertMany(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	if tx == nil {
		return q.client.InsertMany(ctx, params)
	}
	return q.client.InsertManyTx(ctx, tx, params)
}

// CancelJob implements store.Jobs: it cancels a job in tx. A job that is
// gone (pruned after it finished) is nothing to cancel.
func (q *Inserter) CancelJob(ctx context.Context, tx *sql.Tx, jobID int64) error {
	if _, err := q.client.JobCancelTx(ctx, tx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}
