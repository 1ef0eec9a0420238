package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// Jobs inserts and cancels queue jobs inside the store's transactions, so
// a run and its job are committed together or not at all. The queue
// package implements it on River.
type Jobs interface {
	// EnqueueBuilds inserts the build jobs of runs, one result each in
	// order. When an equivalent job is already waiting or running (same
	// repository, head SHA and trigger) it inserts nothing for that run
	// and returns the existing job's run id as CoalescedInto.
	EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*Run) ([]Enqueued, error)
	// EnqueueEvent inserts the job that finishes deciding a deferred
	// delivery (it needs GitHub's API, which the webhook must not wait on).
	EnqueueEvent(ctx context.Context, tx *sql.Tx, ev *EventJob) (jobID int64, err error)
	// CancelJob cancels a job: a waiting one never starts, a running one
	// has its context cancelled.
	CancelJob(ctx context.Context, tx *sql.Tx, jobID int64) error
	// EnqueueSyncs asks for the runs' reports on GitHub (check runs) to
	// be brought up to date: runs that changed without a worker (ended
	// before they started).
	EnqueueSyncs(ctx context.Context, tx *sql.Tx, runIDs []int64) error
}

// Enqueued is what EnqueueBuilds did for one run.
type Enqueued struct {
	JobID         int64
	CoalescedInto int64
}

// IntakeItem is one webhook delivery and what it asks for.
type IntakeItem struct {
	// Delivery is the delivery's record; its Outcome and Reason are
	// Intent's (what is set here is overwritten).
	Delivery *Delivery
	// Intent is what the receiver decided (see Intent for the fields
	// intake records).
	Intent Intent
	// ReplayWindow, when positive, makes the delivery a replay when the
	// same body (Delivery.PayloadSHA256) was delivered under another
	// delivery id within it: the delivery is then recorded as ignored and
	// asks for nothing (IntakeResult.ReplayOf).
	ReplayWindow time.Duration
}

// IntakeResult says what Intake recorded.
type IntakeResult struct {
	// Duplicate is set when this delivery was recorded before (a GitHub
	// redelivery, or a retry whose first commit succeeded): nothing new
	// was written.
	Duplicate bool
	// DeliveryRowID is the delivery's row.
	DeliveryRowID int64
	// RunID is the run this delivery leads to (0 when none).
	RunID int64
	// Coalesced is set when an equivalent job was already queued: no new
	// run was created and RunID is the existing one.
	Coalesced bool
	// Cancelled lists the runs this delivery ended or asked to stop.
	Cancelled []int64
	// ReplayOf, when set, is the delivery whose body this one repeats
	// under a new delivery id: it was recorded, and nothing was started.
	ReplayOf string
}

// Intake durably records one webhook delivery and what it asks for (a run
// and its job, a deferred event job, cancellations) in one transaction:
// either all of it is committed or none. A delivery already recorded (same
// app and delivery id) is reported as Duplicate and changes nothing. An
// intent with what only an event job decides (Intent.Resolved) is an
// error.
func (db *DB) Intake(ctx context.Context, item *IntakeItem, jobs Jobs) (IntakeResult, error) {
	res, errs := db.IntakeBatch(ctx, []*IntakeItem{item}, jobs)
	return res[0], errs[0]
}

// IntakeBatch records many deliveries in one transaction: the group commit
// behind a busy webhook. Its effect is that of recording the items one
// after another, in order. When the batch fails for a reason other than a
// transient one, each item is tried on its own, so one bad delivery only
// fails itself.
func (db *DB) IntakeBatch(ctx context.Context, items []*IntakeItem, jobs Jobs) ([]IntakeResult, []error) {
	res := make([]IntakeResult, len(items))
	errs := make([]error, len(items))
	for i, it := range items {
		if it.Intent.Resolved() {
			errs[i] = fmt.Errorf("intake of delivery %s: %w", it.Delivery.DeliveryID, errResolvedAtIntake)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if len(items) == 1 {
			return res, errs
		}
		return db.intakeEach(ctx, items, jobs)
	}
	record := func(optimistic bool) error {
		return db.inTx(ctx, "intake", func(ctx context.Context, tx bun.Tx) error {
			out, err := intakeTx(ctx, tx, db, items, jobs, optimistic)
			if err == nil {
				copy(res, out)
			}
			return err
		})
	}
	err := record(true)
	if errors.Is(err, errSeenBefore) {
		err = record(false)
	}
	if err == nil {
		return res, errs
	}
	if len(items) == 1 || ctx.Err() != nil {
		for i := range errs {
			errs[i] = err
		}
		return res, errs
	}
	return db.intakeEach(ctx, items, jobs)
}

// intakeEach records items one transaction each.
func (db *DB) intakeEach(ctx context.Context, items []*IntakeItem, jobs Jobs) ([]IntakeResult, []error) {
	res := make([]IntakeResult, len(items))
	errs := make([]error, len(items))
	for i, it := range items {
		one, oneErr := db.IntakeBatch(ctx, []*IntakeItem{it}, jobs)
		res[i], errs[i] = one[0], oneErr[0]
	}
	return res, errs
}

// returnedDelivery is what the delivery insert returns.
type returnedDelivery struct {
	ID         int64  `bun:"id"`
	DeliveryID string `bun:"delivery_id"`
	Replayed   bool   `bun:"replayed"`
}

// cancelRuns ends the active runs c selects (never the run supersededBy
// points at). Their jobs are cancelled; a run that has not started is
// marked CANCELLED now, a running one ends as CANCELLED when its worker
// sees the cancellation. With supersededBy, the runs record it.
type endedRun struct {
	ID     int64      `bun:"id"`
	JobID  *int64     `bun:"job_id"`
	Status run.Status `bun:"status"`
}

func cancelRuns(ctx context.Context, tx bun.Tx, now time.Time, jobs Jobs, c Cancel, supersededBy *int64) ([]int64, error) {
	// One statement ends the waiting runs, marks the running ones and
	// returns both with their jobs.
	up := tx.NewUpdate().Model((*Run)(nil)).Set("updated_at = ?", now).
		Set("status = CASE WHEN status = ? THEN ? ELSE status END", run.StatusPending, run.StatusCancelled).
		Set("step = CASE WHEN status = ? THEN ? ELSE step END", run.StatusPending, run.Cancelled).
		Set("failure_reason = CASE WHEN status = ? THEN ? ELSE failure_reason END", run.StatusPending, c.Reason).
		Where("status IN (?)", bun.List([]run.Status{run.StatusPending, run.StatusInProgress}))
	switch {
	case c.RunID != 0:
		up = up.Where("id = ?", c.RunID)
	case c.Number != 0:
		up = up.Where("repo = ? AND number = ?", c.Repo, c.Number)
	default:
		up = up.Where("repo = ? AND ref = ?", c.Repo, c.Ref)
	}
	if supersededBy != nil {
		up = up.Set("superseded_by = ?", *supersededBy).Where("id < ?", *supersededBy)
	}
	var ended []endedRun
	if _, err := up.Returning("id, job_id, status").Exec(ctx, &ended); err != nil {
		return nil, fmt.Errorf("cancel runs: %w", err)
	}
	slices.SortFunc(ended, func(a, b endedRun) int { return cmp.Compare(a.ID, b.ID) })
	ids := make([]int64, 0, len(ended))
	for _, r := range ended {
		// A superseded run that was waiting is over: its job, when a
		// worker takes it, finds the run ended and does nothing (and a
		// build of the same commit that finds that job queued replaces it:
		// see startRuns). Only running builds need their job stopped.
		if r.JobID != nil && (supersededBy == nil || r.Status == run.StatusInProgress) {
			if err := jobs.CancelJob(ctx, tx.Tx, *r.JobID); err != nil {
				return nil, fmt.Errorf("cancel job of run %d: %w", r.ID, err)
			}
		}
		ids = append(ids, r.ID)
	}
	// Their check runs must show the end. Superseded runs are synced by
	// the superseding run's first sync (already queued with it), which
	// saves a statement in every busy intake transaction.
	if len(ids) > 0 && supersededBy == nil {
		if err := jobs.EnqueueSyncs(ctx, tx.Tx, ids); err != nil {
			return nil, fmt.Errorf("report cancelled runs: %w", err)
		}
	}
	return ids, nil
}

// Delivery returns a recorded delivery.
func (db *DB) Delivery(ctx context.Context, appID int64, deliveryID string) (*Delivery, error) {
	var d Delivery
	err := db.withRetry(ctx, "get delivery", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&d).Where("app_id = ? AND delivery_id = ?", appID, deliveryID).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, "get delivery")
	}
	return &d, nil
}
