package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// CreateRun inserts a run outside intake (CLI and API runs). It sets ID,
// CreatedAt and UpdatedAt.
func (db *DB) CreateRun(ctx context.Context, r *Run) error {
	return db.withRetry(ctx, "create run", func(ctx context.Context) error {
		prepareNewRun(r, db.utcNow())
		_, err := db.Bun.NewInsert().Model(r).Returning("id").Exec(ctx)
		return err
	})
}

// prepareNewRun sets the fields a new run row starts with.
func prepareNewRun(r *Run, now time.Time) {
	r.ID = 0
	r.CreatedAt, r.UpdatedAt = now, now
	if r.Status == "" {
		r.Status = run.StatusPending
	}
	if r.Step == "" {
		r.Step = run.Pending
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	if r.Diagnostics == "" {
		r.Diagnostics = "[]"
	}
}

// Run returns the run with id.
func (db *DB) Run(ctx context.Context, id int64) (*Run, error) {
	var r Run
	err := db.withRetry(ctx, "get run", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("run %d", id))
	}
	return &r, nil
}

// RunFilter selects runs for ListRuns. Empty fields match everything.
type RunFilter struct {
	Repo   string
	Ref    string
	Status run.Status
	// Trigger, when set, selects the runs it started.
	Trigger run.Trigger
	// APITokenID, when positive, selects the runs of that API token.
	APITokenID int64
	// BeforeID pages backwards: only runs with a smaller id (the last id
	// of the previous page).
	BeforeID int64
	// Limit is the page size; 0 means 50, at most 500.
	Limit int
}

// ListRuns returns runs, newest first.
func (db *DB) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	return db.listRuns(ctx, f, false)
}

// ListRunSummaries is ListRuns without the runs' large columns: Spec,
// SpecSource (up to 256 KiB each) and Diagnostics are empty (read one run
// for them). Lists served to the web use it.
func (db *DB) ListRunSummaries(ctx context.Context, f RunFilter) ([]Run, error) {
	return db.listRuns(ctx, f, true)
}

func (db *DB) listRuns(ctx context.Context, f RunFilter, summaries bool) ([]Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var runs []Run
	err := db.withRetry(ctx, "list runs", func(ctx context.Context) error {
		runs = nil
		q := db.Bun.NewSelect().Model(&runs).OrderExpr("id DESC").Limit(int64(limit))
		if summaries {
			q = q.ExcludeColumn("spec", "spec_source", "diagnostics")
		}
		if f.Repo != "" {
			q = q.Where("repo = ?", f.Repo)
		}
		if f.Ref != "" {
			q = q.Where("ref = ?", f.Ref)
		}
		if f.Status != "" {
			q = q.Where("status = ?", f.Status)
		}
		if f.Trigger != "" {
			q = q.Where("? = ?", bun.Ident("trigger"), f.Trigger)
		}
		if f.APITokenID > 0 {
			q = q.Where("api_token_id = ?", f.APITokenID)
		}
		if f.BeforeID > 0 {
			q = q.Where("id < ?", f.BeforeID)
		}
		return q.Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

// EnterStep records that run id entered step at the store's clock: the
// step that was running is finished as done, the new one starts, and the
// run is IN_PROGRESS at that step — atomically. Entering the step the run
// is already in is a no-op, so a resumed job can call it again.
func (db *DB) EnterStep(ctx context.Context, id int64, step run.State) error {
	return db.inTx(ctx, "enter step", func(ctx context.Context, tx bun.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		now := db.utcNow()
		var r Run
		if err := tx.NewSelect().Model(&r).Column("status", "step").Where("id = ?", id).Scan(ctx); err != nil {
			return notFound(err, fmt.Sprintf("run %d", id))
		}
		if r.Status.Terminal() {
			return fmt.Errorf("run %d is %s: %w", id, r.Status, ErrRunEnded)
		}
		if r.Status == run.StatusInProgress && r.Step == step {
			return nil
		}
		if err := finishSteps(ctx, tx, id, run.StepDone, now); err != nil {
			return err
		}
		st := RunStep{RunID: id, Step: step, Status: run.StepRunning, StartedAt: now}
		if _, err := tx.NewInsert().Model(&st).
			On("CONFLICT (run_id, step) DO UPDATE").Set("status = EXCLUDED.status, started_at = EXCLUDED.started_at, finished_at = NULL, duration_ms = 0").
			Exec(ctx); err != nil {
			return fmt.Errorf("start step: %w", err)
		}
		_, err := tx.NewUpdate().Model((*Run)(nil)).
			Set("status = ?", run.StatusInProgress).Set("step = ?", step).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("update run: %w", err)
		}
		return nil
	})
}

// ErrRunEnded is returned when a run that has ended is asked to change.
var ErrRunEnded = fmt.Errorf("run has ended")

// ReleaseJobs inserts the release job of a run in the transaction that
// ends it (the queue's insert side implements it), as intake inserts
// build jobs: the run is successful and its release is queued together,
// or neither.
type ReleaseJobs interface {
	EnqueuePublish(ctx context.Context, tx *sql.Tx, runID int64) error
}

// Finish ends run id with status (SUCCESS, FAILED or CANCELLED) and step
// (the final state name), as FinishWith does, and queues no release: for
// runs that publish nothing (the reaper's, which never succeed).
func (db *DB) Finish(ctx context.Context, id int64, final run.State, reason string) error {
	return db.FinishWith(ctx, id, final, reason, nil)
}

// FinishWith ends run id in final state final (complete, failed or
// cancelled), finishing its running step accordingly,
// and records the failure reason and the total duration. A run that ends
// successfully and came from GitHub (it has an installation) gets its
// release job from releases in the same transaction; CLI runs and runs
// that did not succeed get none. Finishing a run that has ended is an
// error wrapping ErrRunEnded, so a cancelled run is not later marked
// successful.
func (db *DB) FinishWith(ctx context.Context, id int64, final run.State, reason string, releases ReleaseJobs) error {
	if !final.Terminal() {
		return fmt.Errorf("finish run %d: %s is not a final state", id, final)
	}
	status, stepStatus := run.StatusOf(final), run.StepEnd(final)
	return db.inTx(ctx, "finish run", func(ctx context.Context, tx bun.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		now := db.utcNow()
		var r Run
		if err := tx.NewSelect().Model(&r).Column("status", "created_at", "superseded_by", "installation_id").Where("id = ?", id).Scan(ctx); err != nil {
			return notFound(err, fmt.Sprintf("run %d", id))
		}
		if r.Status.Terminal() {
			return fmt.Errorf("run %d is already %s: %w", id, r.Status, ErrRunEnded)
		}
		if status == run.StatusCancelled && r.SupersededBy != nil {
			// The worker only saw its context cancelled; the reason is
			// the newer run.
			reason = fmt.Sprintf("superseded by run %d", *r.SupersededBy)
		}
		if err := finishSteps(ctx, tx, id, stepStatus, now); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model((*Run)(nil)).
			Set("status = ?", status).Set("step = ?", final).Set("failure_reason = ?", reason).
			Set("build_duration_ms = ?", now.Sub(r.CreatedAt).Milliseconds()).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("update run: %w", err)
		}
		if status == run.StatusSuccess && r.InstallationID != nil && releases != nil {
			return releases.EnqueuePublish(ctx, tx.Tx, id)
		}
		return nil
	})
}

func finishSteps(ctx context.Context, tx bun.Tx, runID int64, status run.StepStatus, now time.Time) error {
	var running []RunStep
	if err := tx.NewSelect().Model(&running).Where("run_id = ? AND status = ?", runID, run.StepRunning).Scan(ctx); err != nil {
		return fmt.Errorf("read running steps: %w", err)
	}
	for _, st := range running {
		_, err := tx.NewUpdate().Model((*RunStep)(nil)).
			Set("status = ?", status).Set("finished_at = ?", now).Set("duration_ms = ?", now.Sub(st.StartedAt).Milliseconds()).
			Where("run_id = ? AND step = ?", runID, st.Step).Exec(ctx)
		if err != nil {
			return fmt.Errorf("finish step %s: %w", st.Step, err)
		}
	}
	return nil
}

// Steps returns the steps of run id in the order they started.
func (db *DB) Steps(ctx context.Context, id int64) ([]RunStep, error) {
	var steps []RunStep
	err := db.withRetry(ctx, "run steps", func(ctx context.Context) error {
		steps = nil
		return db.Bun.NewSelect().Model(&steps).Where("run_id = ?", id).OrderExpr("started_at, step").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	return steps, nil
}

// RunUpdate are the run fields later stages fill in; nil fields are left
// unchanged.
type RunUpdate struct {
	Base, SpecJSON, SpecSource, SpecHash, ContextHash, KernelVersion, InitSystem, Architecture, SecurityLevel *string
	Warnings                                                                                                  []string
}

// UpdateRun sets the given fields of run id.
func (db *DB) UpdateRun(ctx context.Context, id int64, u RunUpdate) error {
	return db.withRetry(ctx, "update run", func(ctx context.Context) error {
		q := db.Bun.NewUpdate().Model((*Run)(nil)).Set("updated_at = ?", db.utcNow()).Where("id = ?", id)
		for col, v := range map[string]*string{
			"base": u.Base, "spec": u.SpecJSON, "spec_source": u.SpecSource, "spec_hash": u.SpecHash, "context_hash": u.ContextHash, "kernel_version": u.KernelVersion,
			"init_system": u.InitSystem, "architecture": u.Architecture, "security_level": u.SecurityLevel,
		} {
			if v != nil {
				q = q.Set("? = ?", bun.Ident(col), *v)
			}
		}
		if u.Warnings != nil {
			b, err := json.Marshal(u.Warnings)
			if err != nil {
				return fmt.Errorf("warnings: %w", err)
			}
			q = q.Set("warnings = ?", string(b))
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("run %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// setRunColumn sets one column of run id.
func (db *DB) setRunColumn(ctx context.Context, id int64, col string, v any) error {
	return db.withRetry(ctx, "update run "+col, func(ctx context.Context) error {
		res, err := db.Bun.NewUpdate().Model((*Run)(nil)).Set("? = ?", bun.Ident(col), v).
			Set("updated_at = ?", db.utcNow()).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// SetDiagnostics records the spec's errors and warnings with their
// positions (spec.Diagnostics as JSON) on run id.
func (db *DB) SetDiagnostics(ctx context.Context, id int64, diagnosticsJSON string) error {
	return db.setRunColumn(ctx, id, "diagnostics", diagnosticsJSON)
}

// SetPartialReason records why successful run id has the image only;
// failed says a step failed (the ISO, the boot test), which keeps the run
// out of the cache.
func (db *DB) SetPartialReason(ctx context.Context, id int64, reason string, failed bool) error {
	return db.withRetry(ctx, "record partial result", func(ctx context.Context) error {
		res, err := db.Bun.NewUpdate().Model((*Run)(nil)).
			Set("partial_reason = ?", reason).Set("partial_failed = ?", failed).Set("updated_at = ?", db.utcNow()).
			Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("run %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// LatestReusable is the newest run whose build context had hash and whose
// result can be reused: successful, and not partial because a step failed
// (ErrNotFound when there is none). It returns the run's id and its
// partial reason (empty for a complete run).
func (db *DB) LatestReusable(ctx context.Context, hash string) (id int64, partialReason string, err error) {
	var runs []Run
	err = db.withRetry(ctx, "cache lookup", func(ctx context.Context) error {
		runs = nil
		return db.Bun.NewSelect().Model(&runs).Column("id", "partial_reason").
			Where("context_hash = ? AND status = ? AND NOT partial_failed", hash, run.StatusSuccess).OrderExpr("id DESC").Limit(1).Scan(ctx)
	})
	if err != nil {
		return 0, "", err
	}
	if len(runs) == 0 {
		return 0, "", fmt.Errorf("run with context %s: %w", hash, ErrNotFound)
	}
	return runs[0].ID, runs[0].PartialReason, nil
}
