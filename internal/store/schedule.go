package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

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
	// LastRebuild is when the schedule last started a rebuild of the
	// repository (any branch or spec path); zero: never.
	LastRebuild time.Time
}

// FinishedAt is when the candidate's run ended.
func (c *ScheduleCandidate) FinishedAt() time.Time {
	return c.Run.CreatedAt.Add(time.Duration(c.Run.BuildDuration) * time.Millisecond)
}

// ScheduleCandidates returns, for every repository, default branch and
// spec path with a successful GitHub run, the latest such run and its
// last schedule check, when its installation is recorded, not suspended,
// and still has the repository. Whether its spec has a schedule is the
// caller's to read (Run.Spec).
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
	runs, err = db.scheduledInstallations(ctx, runs)
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
	last, err := db.lastRebuilds(ctx, runs)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleCandidate, len(runs))
	for i, r := range runs {
		out[i] = ScheduleCandidate{Run: r, Check: byRun[r.ID], LastRebuild: last[r.Repo]}
	}
	return out, nil
}

// scheduledInstallations keeps the runs whose installation is recorded,
// not suspended, and still has the run's repository.
func (db *DB) scheduledInstallations(ctx context.Context, runs []Run) ([]Run, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	var ids []int64
	for _, r := range runs {
		ids = append(ids, *r.InstallationID)
	}
	var ins []Installation
	err := db.withRetry(ctx, "schedule installations", func(ctx context.Context) error {
		ins = nil
		return db.Bun.NewSelect().Model(&ins).Where("i.id IN (?)", bun.List(ids)).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*Installation, len(ins))
	for i := range ins {
		byID[ins[i].ID] = &ins[i]
	}
	out := runs[:0]
	for _, r := range runs {
		if schedules(byID[*r.InstallationID], r.Repo) {
			out = append(out, r)
		}
	}
	return out, nil
}

// schedules reports whether installation in (nil: uninstalled, or never
// recorded) takes scheduled rebuilds of repo.
func schedules(in *Installation, repo string) bool {
	if in == nil || in.Suspended {
		return false
	}
	for _, r := range in.Repositories {
		if strings.EqualFold(r, repo) {
			return true
		}
	}
	return false
}

// lastRebuilds returns when the schedule last started a rebuild of each
// of runs' repositories.
func (db *DB) lastRebuilds(ctx context.Context, runs []Run) (map[string]time.Time, error) {
	repos := make([]string, 0, len(runs))
	for _, r := range runs {
		repos = append(repos, r.Repo)
	}
	var latest []Run
	err := db.withRetry(ctx, "last scheduled rebuilds", func(ctx context.Context) error {
		latest = nil
		return db.Bun.NewSelect().Model(&latest).Column("r.repo", "r.created_at").
			Where("r.trigger = ?", run.TriggerSchedule).Where("r.repo IN (?)", bun.List(repos)).
			Where("NOT EXISTS (SELECT 1 FROM runs n WHERE n.repo = r.repo AND n.trigger = r.trigger AND n.id > r.id)").
			Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(latest))
	for _, r := range latest {
		out[r.Repo] = r.CreatedAt.UTC()
	}
	return out, nil
}

// ErrTooSoon says the schedule rebuilt the repository less than the
// minimum interval ago.
var ErrTooSoon = errors.New("the schedule rebuilt this repository less than the minimum interval ago")

// ErrNotScheduled says the run's installation is suspended or gone, or no
// longer has its repository: the schedule rebuilds nothing for it.
var ErrNotScheduled = errors.New("the installation is suspended or uninstalled, or no longer has the repository")

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
// transaction that also checks the claim is still the caller's and that
// the schedule started no rebuild of the repository in the last minGap
// (else ErrTooSoon). It returns the new run's id (or the run of an
// equivalent build already queued).
func (db *DB) StartScheduledRebuild(ctx context.Context, runID, claim int64, again *Run, jobs Jobs, minGap time.Duration) (int64, error) {
	var id int64
	err := db.inTx(ctx, "start scheduled rebuild", func(ctx context.Context, tx bun.Tx) error {
		if again.InstallationID == nil {
			return ErrNotScheduled
		}
		// Checked again here: the installation may have been suspended or
		// uninstalled since the candidates were read. On PostgreSQL the row
		// is locked to the commit, so a suspension waits for this rebuild
		// (which the build worker then finds suspended) and two rebuilds of
		// one repository (two spec paths, two workers) take turns at the
		// interval check below.
		var ins []Installation
		q := tx.NewSelect().Model(&ins).Where("i.id = ?", *again.InstallationID)
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("installation of %s: %w", again.Repo, err)
		}
		if len(ins) == 0 || !schedules(&ins[0], again.Repo) {
			return fmt.Errorf("%s: %w", again.Repo, ErrNotScheduled)
		}
		var last []Run
		err := tx.NewSelect().Model(&last).Column("r.created_at").
			Where("r.trigger = ?", run.TriggerSchedule).Where("r.repo = ?", again.Repo).
			OrderExpr("r.id DESC").Limit(1).Scan(ctx)
		if err != nil {
			return fmt.Errorf("last scheduled rebuild of %s: %w", again.Repo, err)
		}
		if len(last) == 1 && db.utcNow().Before(last[0].CreatedAt.Add(minGap)) {
			return fmt.Errorf("%s was rebuilt at %s: %w", again.Repo, last[0].CreatedAt.UTC().Format(time.RFC3339), ErrTooSoon)
		}
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
