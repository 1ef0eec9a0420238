package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/run"
)

// ScheduleCheck is the last schedule check of a successful run (see
// linux-build.yaml's schedule): when it was made, the claim counter that
// gives one worker the next check, and the rebuild it started.
type ScheduleCheck struct {
	bun.BaseModel `bun:"table:schedule_checks,alias:sc"`

	RunID        int64     `bun:"run_id,pk"`
	CheckedAt    time.Time `bun:"checked_at,notnull"`
	Claim        int64     `bun:"claim,notnull"`
	RebuildRunID *int64    `bun:"rebuild_run_id"`
	Note         string    `bun:"note,notnull"`
}

// ScheduleCandidate is a run a schedule may rebuild: the latest successful
// run of a repository's default branch (per spec path), with its last
// check (nil: never checked).
type ScheduleCandidate struct {
	Run   Run
	Check *ScheduleCheck
}

// FinishedAt is when the candidate's run ended.
func (c *ScheduleCandidate) FinishedAt() time.Time {
	return c.Run.CreatedAt.Add(time.Duration(c.Run.BuildDuration) * time.Millisecond)
}

// ScheduleCandidates returns, for every repository, default branch and
// spec path with a successful GitHub run, the latest such run and its
// last schedule check. Whether its spec has a schedule is the caller's
// to read (Run.Spec).
func (db *DB) ScheduleCandidates(ctx context.Context) ([]ScheduleCandidate, error) {
	var runs []Run
	err := db.withRetry(ctx, "schedule candidates", func(ctx context.Context) error {
		runs = nil
		return db.Bun.NewSelect().Model(&runs).
			Where("r.status = ?", run.StatusSuccess).
			Where("r.default_branch <> ''").
			Where("r.ref = 'refs/heads/' || r.default_branch").
			Where("r.installation_id IS NOT NULL").
			Where("NOT EXISTS (SELECT 1 FROM runs n WHERE n.repo = r.repo AND n.ref = r.ref AND n.spec_path = r.spec_path AND n.status = ? AND n.id > r.id)", run.StatusSuccess).
			OrderExpr("r.id").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	var checks []ScheduleCheck
	err = db.withRetry(ctx, "schedule checks", func(ctx context.Context) error {
		checks = nil
		return db.Bun.NewSelect().Model(&checks).Where("run_id IN (?)", bun.List(ids)).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	byRun := map[int64]*ScheduleCheck{}
	for i := range checks {
		byRun[checks[i].RunID] = &checks[i]
	}
	out := make([]ScheduleCandidate, len(runs))
	for i, r := range runs {
		out[i] = ScheduleCandidate{Run: r, Check: byRun[r.ID]}
	}
	return out, nil
}

// ErrClaimLost says another worker claimed a schedule check first.
var ErrClaimLost = errors.New("the schedule check was claimed by another worker")

// ClaimScheduleCheck takes the next check of run runID for the caller, at
// at: it succeeds only when the check is still prev (nil: never checked),
// so of two workers that read the same candidate exactly one gets it (the
// other gets ErrClaimLost). It returns the claim to pass on.
func (db *DB) ClaimScheduleCheck(ctx context.Context, runID int64, prev *ScheduleCheck, at time.Time) (int64, error) {
	var claim int64
	err := db.withRetry(ctx, "claim schedule check", func(ctx context.Context) error {
		var res interface{ RowsAffected() (int64, error) }
		var err error
		if prev == nil {
			claim = 1
			res, err = db.Bun.NewInsert().Model(&ScheduleCheck{RunID: runID, CheckedAt: at.UTC(), Claim: claim, Note: "checking"}).
				On("CONFLICT (run_id) DO NOTHING").Exec(ctx)
		} else {
			claim = prev.Claim + 1
			res, err = db.Bun.NewUpdate().Model((*ScheduleCheck)(nil)).
				Set("checked_at = ?", at.UTC()).Set("claim = ?", claim).Set("note = ?", "checking").
				Where("run_id = ? AND claim = ?", runID, prev.Claim).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("claim schedule check of run %d: %w", runID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return ErrClaimLost
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return claim, nil
}

// EndScheduleCheck records how claim's check of run runID ended (note)
// when it started no rebuild. With retry set the check did not happen (the
// archive could not be read): the check time goes back to prev's, so the
// next job tries again. The claim is spent either way.
func (db *DB) EndScheduleCheck(ctx context.Context, runID, claim int64, prev *ScheduleCheck, note string, retry bool) error {
	return db.withRetry(ctx, "end schedule check", func(ctx context.Context) error {
		// The claim ends here: bumping it makes it stale.
		q := db.Bun.NewUpdate().Model((*ScheduleCheck)(nil)).Set("note = ?", note).Set("claim = ?", claim+1).
			Where("run_id = ? AND claim = ?", runID, claim)
		if retry {
			if prev == nil {
				_, err := db.Bun.NewDelete().Model((*ScheduleCheck)(nil)).Where("run_id = ? AND claim = ?", runID, claim).Exec(ctx)
				return err
			}
			q = q.Set("checked_at = ?", prev.CheckedAt.UTC())
		}
		_, err := q.Exec(ctx)
		return err
	})
}

// StartScheduledRebuild records claim's outcome for run runID: the rebuild
// again (whose PackageUpdates say why) and its build job, in one
// transaction that also checks the claim is still the caller's. It returns
// the new run's id (or the run of an equivalent build already queued).
func (db *DB) StartScheduledRebuild(ctx context.Context, runID, claim int64, again *Run, jobs Jobs) (int64, error) {
	var id int64
	err := db.inTx(ctx, "start scheduled rebuild", func(ctx context.Context, tx bun.Tx) error {
		g := &runGroup{run: *again, items: []int{0}, bornSuperseded: -1}
		if err := startRuns(ctx, tx, db.utcNow(), []*runGroup{g}, jobs); err != nil {
			return err
		}
		res, err := tx.NewUpdate().Model((*ScheduleCheck)(nil)).
			Set("rebuild_run_id = ?", g.run.ID).Set("note = ?", fmt.Sprintf("rebuilt as run %d", g.run.ID)).
			Where("run_id = ? AND claim = ?", runID, claim).Exec(ctx)
		if err != nil {
			return fmt.Errorf("record scheduled rebuild: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(ErrClaimLost, err)
		}
		id = g.run.ID
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}
