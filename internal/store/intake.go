package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"
)

// Enqueuer inserts the build job for run inside tx. It returns the job's
// id, or, when an equivalent job is already queued (same repository, head
// SHA and trigger), coalescedInto: the run id that job belongs to.
type Enqueuer func(ctx context.Context, tx *sql.Tx, run *Run) (jobID int64, coalescedInto int64, err error)

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
}

// Intake durably records a webhook delivery and, when run is not nil, the
// run it asks for and its job, all in one transaction: either all of them
// are committed or none is. A delivery already recorded (same app and
// delivery id) is reported as Duplicate and changes nothing.
func (db *DB) Intake(ctx context.Context, d *Delivery, run *Run, enqueue Enqueuer) (IntakeResult, error) {
	var res IntakeResult
	err := db.inTx(ctx, "intake", func(ctx context.Context, tx bun.Tx) error {
		res = IntakeResult{}
		now := db.utcNow()
		row := *d
		row.ID = 0
		if row.ReceivedAt.IsZero() {
			row.ReceivedAt = now
		}
		row.ReceivedAt = row.ReceivedAt.UTC()
		r, err := tx.NewInsert().Model(&row).On("CONFLICT (app_id, delivery_id) DO NOTHING").Returning("id").Exec(ctx)
		if err != nil {
			return fmt.Errorf("insert delivery: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return fmt.Errorf("insert delivery: %w", err)
		} else if n == 0 {
			var prev Delivery
			if err := tx.NewSelect().Model(&prev).Where("app_id = ? AND delivery_id = ?", d.AppID, d.DeliveryID).Scan(ctx); err != nil {
				return fmt.Errorf("read recorded delivery: %w", err)
			}
			res.Duplicate, res.DeliveryRowID = true, prev.ID
			if prev.RunID != nil {
				res.RunID = *prev.RunID
			}
			return nil
		}
		res.DeliveryRowID = row.ID
		if run == nil {
			return nil
		}
		nr := *run
		prepareNewRun(&nr, now)
		if _, err := tx.NewInsert().Model(&nr).Returning("id").Exec(ctx); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		jobID, into, err := enqueue(ctx, tx.Tx, &nr)
		if err != nil {
			return fmt.Errorf("enqueue build: %w", err)
		}
		runID := nr.ID
		if into != 0 {
			// An equivalent job is queued: this delivery joins its run.
			if _, err := tx.NewDelete().Model((*Run)(nil)).Where("id = ?", nr.ID).Exec(ctx); err != nil {
				return fmt.Errorf("drop coalesced run: %w", err)
			}
			runID, res.Coalesced = into, true
		} else if _, err := tx.NewUpdate().Model((*Run)(nil)).Set("job_id = ?", jobID).Where("id = ?", nr.ID).Exec(ctx); err != nil {
			return fmt.Errorf("record job id: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("run_id = ?", runID).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("link delivery to run: %w", err)
		}
		res.RunID = runID
		return nil
	})
	if err != nil {
		return IntakeResult{}, err
	}
	return res, nil
}

// Delivery returns a recorded delivery.
func (db *DB) Delivery(ctx context.Context, appID int64, deliveryID string) (*Delivery, error) {
	var d Delivery
	err := db.Bun.NewSelect().Model(&d).Where("app_id = ? AND delivery_id = ?", appID, deliveryID).Scan(ctx)
	if err != nil {
		return nil, notFound(err, "get delivery")
	}
	return &d, nil
}
