package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Jobs inserts and cancels queue jobs inside the store's transactions, so
// a run and its job are committed together or not at all. The queue
// package implements it on River.
type Jobs interface {
	// EnqueueBuild inserts the build job of run. When an equivalent job
	// is already waiting or running (same repository, head SHA and
	// trigger) it inserts nothing and returns that job's run id as
	// coalescedInto.
	EnqueueBuild(ctx context.Context, tx *sql.Tx, run *Run) (jobID, coalescedInto int64, err error)
	// EnqueueEvent inserts the job that finishes deciding a deferred
	// delivery (it needs GitHub's API, which the webhook must not wait on).
	EnqueueEvent(ctx context.Context, tx *sql.Tx, ev *EventJob) (jobID int64, err error)
	// CancelJob cancels a job: a waiting one never starts, a running one
	// has its context cancelled.
	CancelJob(ctx context.Context, tx *sql.Tx, jobID int64) error
}

// Cancel asks intake to end the active runs it selects: one run, the runs
// of an issue or pull request, or those of a repository and ref.
type Cancel struct {
	RunID int64
	Repo  string
	Ref   string
	// Number, with Repo, selects the runs of an issue or pull request.
	Number int
	Reason string
}

// IntakeItem is one webhook delivery and what it asks for.
type IntakeItem struct {
	Delivery *Delivery
	// Run, when set, is built: the run and its job are recorded with the
	// delivery.
	Run *Run
	// Supersede cancels the older active runs of Run's repository, ref and
	// trigger (a newer push to the branch), recording them as superseded.
	Supersede bool
	// Event, when set, is decided later by a job (Delivery.Outcome is
	// OutcomeDeferred); its DeliveryRowID is filled in.
	Event *EventJob
	// Cancel, when set, ends active runs.
	Cancel *Cancel
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
}

// Intake durably records one webhook delivery and what it asks for (a run
// and its job, a deferred event job, cancellations) in one transaction:
// either all of it is committed or none. A delivery already recorded (same
// app and delivery id) is reported as Duplicate and changes nothing.
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
	err := db.inTx(ctx, "intake", func(ctx context.Context, tx bun.Tx) error {
		out, err := intakeTx(ctx, tx, db, items, jobs)
		if err == nil {
			copy(res, out)
		}
		return err
	})
	if err == nil {
		return res, errs
	}
	if len(items) == 1 || ctx.Err() != nil {
		for i := range errs {
			errs[i] = err
		}
		return res, errs
	}
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
}

func intakeTx(ctx context.Context, tx bun.Tx, db *DB, items []*IntakeItem, jobs Jobs) ([]IntakeResult, error) {
	now := db.utcNow()
	res := make([]IntakeResult, len(items))
	// One statement inserts every delivery; those already recorded (or
	// repeated in this batch) are not returned.
	rows := make([]Delivery, len(items))
	for i, it := range items {
		rows[i] = *it.Delivery
		rows[i].ID, rows[i].RunID = 0, nil
		if rows[i].ReceivedAt.IsZero() {
			rows[i].ReceivedAt = now
		}
		rows[i].ReceivedAt = rows[i].ReceivedAt.UTC()
	}
	var inserted []returnedDelivery
	if _, err := tx.NewInsert().Model(&rows).On("CONFLICT (app_id, delivery_id) DO NOTHING").
		Returning("id, delivery_id").Exec(ctx, &inserted); err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	fresh := make(map[string]int64, len(inserted))
	for _, r := range inserted {
		fresh[r.DeliveryID] = r.ID
	}
	var dups []int
	linked := map[int64][]int64{} // run id → delivery rows to link
	groups := map[string]int{}    // repo|sha|trigger → index of the item that made the run
	for i, it := range items {
		rowID, ok := fresh[it.Delivery.DeliveryID]
		if !ok {
			dups = append(dups, i)
			continue
		}
		delete(fresh, it.Delivery.DeliveryID) // a second copy in this batch is a duplicate
		res[i].DeliveryRowID = rowID
		if it.Run != nil {
			key := it.Run.Repo + "|" + it.Run.HeadSHA + "|" + string(it.Run.Trigger)
			if first, ok := groups[key]; ok {
				// The same build asked twice in one batch: one run.
				res[i].RunID, res[i].Coalesced = res[first].RunID, true
			} else {
				groups[key] = i
				runID, coalesced, cancelled, err := startRun(ctx, tx, now, it.Run, it.Supersede, jobs)
				if err != nil {
					return nil, err
				}
				res[i].RunID, res[i].Coalesced, res[i].Cancelled = runID, coalesced, cancelled
			}
			linked[res[i].RunID] = append(linked[res[i].RunID], rowID)
		}
		if it.Event != nil {
			ev := *it.Event
			ev.DeliveryRowID = rowID
			if _, err := jobs.EnqueueEvent(ctx, tx.Tx, &ev); err != nil {
				return nil, fmt.Errorf("enqueue event: %w", err)
			}
		}
		if it.Cancel != nil {
			ids, err := cancelRuns(ctx, tx, now, jobs, *it.Cancel, nil)
			if err != nil {
				return nil, err
			}
			res[i].Cancelled = append(res[i].Cancelled, ids...)
		}
	}
	for runID, deliveries := range linked {
		if _, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("run_id = ?", runID).
			Where("id IN (?)", bun.In(deliveries)).Exec(ctx); err != nil {
			return nil, fmt.Errorf("link deliveries to run %d: %w", runID, err)
		}
	}
	for _, i := range dups {
		var prev Delivery
		d := items[i].Delivery
		if err := tx.NewSelect().Model(&prev).Column("id", "run_id").
			Where("app_id = ? AND delivery_id = ?", d.AppID, d.DeliveryID).Scan(ctx); err != nil {
			return nil, fmt.Errorf("read recorded delivery: %w", err)
		}
		res[i] = IntakeResult{Duplicate: true, DeliveryRowID: prev.ID}
		if prev.RunID != nil {
			res[i].RunID = *prev.RunID
		}
	}
	return res, nil
}

// startRun inserts run and its job. When an equivalent job is queued the
// run is not kept and the existing run's id is returned with coalesced
// set. With supersede, older active runs of the same repository, ref and
// trigger are cancelled and point at the new run.
func startRun(ctx context.Context, tx bun.Tx, now time.Time, run *Run, supersede bool, jobs Jobs) (runID int64, coalesced bool, cancelled []int64, err error) {
	nr := *run
	prepareNewRun(&nr, now)
	if _, err := tx.NewInsert().Model(&nr).Returning("id").Exec(ctx); err != nil {
		return 0, false, nil, fmt.Errorf("insert run: %w", err)
	}
	jobID, into, err := jobs.EnqueueBuild(ctx, tx.Tx, &nr)
	if err != nil {
		return 0, false, nil, fmt.Errorf("enqueue build: %w", err)
	}
	if into != 0 {
		// An equivalent job is queued: this delivery joins its run.
		if _, err := tx.NewDelete().Model((*Run)(nil)).Where("id = ?", nr.ID).Exec(ctx); err != nil {
			return 0, false, nil, fmt.Errorf("drop coalesced run: %w", err)
		}
		return into, true, nil, nil
	}
	if _, err := tx.NewUpdate().Model((*Run)(nil)).Set("job_id = ?", jobID).Where("id = ?", nr.ID).Exec(ctx); err != nil {
		return 0, false, nil, fmt.Errorf("record job id: %w", err)
	}
	if supersede && nr.Ref != "" {
		by := nr.ID
		cancelled, err = cancelRuns(ctx, tx, now, jobs, Cancel{Repo: nr.Repo, Ref: nr.Ref,
			Reason: fmt.Sprintf("superseded by run %d", nr.ID)}, &by)
		if err != nil {
			return 0, false, nil, err
		}
	}
	return nr.ID, false, cancelled, nil
}

// cancelRuns ends the active runs c selects (never the run supersededBy
// points at). Their jobs are cancelled; a run that has not started is
// marked CANCELLED now, a running one ends as CANCELLED when its worker
// sees the cancellation. With supersededBy, the runs record it.
func cancelRuns(ctx context.Context, tx bun.Tx, now time.Time, jobs Jobs, c Cancel, supersededBy *int64) ([]int64, error) {
	var runs []Run
	q := tx.NewSelect().Model(&runs).Column("id", "status", "job_id", "trigger").
		Where("status IN (?)", bun.In([]RunStatus{StatusPending, StatusInProgress}))
	switch {
	case c.RunID != 0:
		q = q.Where("id = ?", c.RunID)
	case c.Number != 0:
		q = q.Where("repo = ? AND number = ?", c.Repo, c.Number)
	default:
		q = q.Where("repo = ? AND ref = ?", c.Repo, c.Ref)
	}
	if supersededBy != nil {
		q = q.Where("id < ?", *supersededBy)
	}
	if err := q.OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("find runs to cancel: %w", err)
	}
	var ids []int64
	for _, r := range runs {
		if r.JobID != nil {
			if err := jobs.CancelJob(ctx, tx.Tx, *r.JobID); err != nil {
				return nil, fmt.Errorf("cancel job of run %d: %w", r.ID, err)
			}
		}
		up := tx.NewUpdate().Model((*Run)(nil)).Set("updated_at = ?", now).Where("id = ?", r.ID)
		if supersededBy != nil {
			up = up.Set("superseded_by = ?", *supersededBy)
		}
		if r.Status == StatusPending {
			up = up.Set("status = ?", StatusCancelled).Set("step = ?", "CANCELLED").Set("failure_reason = ?", c.Reason)
		}
		if _, err := up.Exec(ctx); err != nil {
			return nil, fmt.Errorf("cancel run %d: %w", r.ID, err)
		}
		ids = append(ids, r.ID)
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
