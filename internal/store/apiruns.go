package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// errCoalesced is returned when the queue joined a run's build to another
// run's: runs asked for through the API are each their own build (the
// queue keys them by run), so this is a bug, never a silent answer with
// another token's run.
var errCoalesced = errors.New("the queue joined the build to another run")

// StartRun records run r (a run asked for outside GitHub's intake: the
// API's) and queues its build in one transaction: both are committed or
// neither. It sets r's ID, CreatedAt, UpdatedAt and JobID.
func (db *DB) StartRun(ctx context.Context, r *Run, jobs Jobs) error {
	return db.inTx(ctx, "start run", func(ctx context.Context, tx bun.Tx) error {
		row := *r
		prepareNewRun(&row, db.utcNow())
		if _, err := tx.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		enq, err := jobs.EnqueueBuilds(ctx, tx.Tx, []*Run{&row})
		if err != nil {
			return fmt.Errorf("enqueue build: %w", err)
		}
		if len(enq) != 1 {
			return fmt.Errorf("enqueue build: %d results for 1 run", len(enq))
		}
		if enq[0].CoalescedInto != 0 {
			return fmt.Errorf("run %d: %w (run %d)", row.ID, errCoalesced, enq[0].CoalescedInto)
		}
		jobID := enq[0].JobID
		if _, err := tx.NewUpdate().Model((*Run)(nil)).Set("job_id = ?", jobID).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("record job id: %w", err)
		}
		row.JobID = &jobID
		*r = row
		return nil
	})
}

// CancelRun asks run id to stop, as a check run's Cancel button does: a
// run that has not started ends CANCELLED now; a running one has its job
// cancelled and ends CANCELLED when its worker sees it. It reports whether
// the run was active (false: it had ended already, and nothing changed).
func (db *DB) CancelRun(ctx context.Context, id int64, reason string, jobs Jobs) (bool, error) {
	var active bool
	err := db.inTx(ctx, "cancel run", func(ctx context.Context, tx bun.Tx) error {
		ids, err := cancelRuns(ctx, tx, db.utcNow(), jobs, Cancel{RunID: id, Reason: reason}, nil)
		active = len(ids) > 0
		return err
	})
	if err != nil {
		return false, err
	}
	return active, nil
}

// RunVisible is the predicate of the runs an API token may see: all of
// them for an admin token, its own otherwise.
func RunVisible(r *Run, tokenID int64, scope Scope) bool {
	if scope == ScopeAdmin {
		return true
	}
	return r.APITokenID != nil && *r.APITokenID == tokenID && scope.Valid()
}
