package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// lockChecks namespaces the per-run lock of check run syncs.
const lockChecks int32 = 0x4c42 // "LB"

// Checks makes a run's check run on GitHub show the run as the store has
// it: one check run per run on its head commit (external_id = run id),
// created queued at intake, then updated at each step and at most every
// few seconds for log progress, with the spec's diagnostics as annotations
// and Cancel/Rebuild buttons. It is a reconciler: each Sync reads the
// run's current state and makes GitHub match it, so a sync that is retried
// or comes late is never wrong, and one run is synced by one worker at a
// time (a cluster-wide lock).
type Checks struct {
	GitHub  CheckGitHub
	Store   CheckStore
	Reports *render.Reporter
	// Name is the check run's name; default "Linux build".
	Name string
	// PublicURL, when set, makes details_url <PublicURL>/runs/<id>.
	PublicURL string
	Logger    *slog.Logger
}

func (c *Checks) name() string {
	if c.Name == "" {
		return "Linux build"
	}
	return c.Name
}

func (c *Checks) log() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Sync makes the check run of run id match the store: it is the queue's
// syncer. Runs that did not come from GitHub have none. A change of state
// (run.SyncState, not mere log progress) edits the status comment of a
// comment-triggered run too; the last attempt (run.SyncFinal, a state
// sync) records a failure as the run's report error instead of returning
// it. When another worker is syncing the run it returns store.ErrLocked:
// the job tries again in a moment.
func (c *Checks) Sync(ctx context.Context, id int64, reason run.SyncReason) error {
	state, lastAttempt := reason != run.SyncLog, reason == run.SyncFinal
	unlock, err := c.Store.TryLock(ctx, lockChecks, id)
	if err != nil {
		return err
	}
	defer unlock()
	err = c.sync(ctx, id, state)
	if err == nil {
		err = c.syncSuperseded(ctx, id)
	}
	if err != nil && lastAttempt {
		msg := "the check run could not be updated: " + err.Error()
		if rerr := c.Store.RecordReport(context.WithoutCancel(ctx), id, store.ReportUpdate{ReportError: &msg}); rerr != nil {
			return errors.Join(err, rerr)
		}
		c.log().ErrorContext(ctx, "giving up on the check run", logging.KeyRun, id, logging.KeyErr, err)
		return nil
	}
	return err
}

// syncSuperseded ends the check runs of the runs that run id superseded:
// intake leaves that to the superseding run's syncs. When another worker
// is syncing one of them (it may have read it before it was superseded)
// the whole sync is tried again in a moment.
func (c *Checks) syncSuperseded(ctx context.Context, id int64) error {
	ids, err := c.Store.SupersededBy(ctx, id)
	if err != nil {
		return err
	}
	for _, old := range ids {
		if err := c.Sync(ctx, old, run.SyncState); err != nil {
			return fmt.Errorf("check run of superseded run %d: %w", old, err)
		}
	}
	return nil
}

// sync loads run id, plans what its check run should say and applies the
// plan.
func (c *Checks) sync(ctx context.Context, id int64, state bool) error {
	run, rep, diags, err := c.load(ctx, id)
	if err != nil || run == nil {
		return err
	}
	p, err := PlanCheckRun(PlanInput{Run: run, Report: rep, Diagnostics: diags, Reports: c.Reports, Name: c.name(),
		PublicURL: c.PublicURL, StateChanged: state})
	if err != nil {
		return err
	}
	return c.apply(ctx, p)
}

// load reads what a sync needs of run id, or a nil run when it has no
// check run to sync: a run coalesced into another at intake (never
// kept), one that did not come from GitHub, or one whose conclusion
// GitHub shows already.
func (c *Checks) load(ctx context.Context, id int64) (*store.Run, *render.RunReport, spec.Diagnostics, error) {
	run, err := c.Store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if run.InstallationID == nil || run.HeadSHA == "" || run.ReportedFinal {
		return nil, nil, nil, nil
	}
	rep, err := Report(ctx, c.Store, run, c.PublicURL)
	if err != nil {
		return nil, nil, nil, err
	}
	var diags spec.Diagnostics
	if err := json.Unmarshal([]byte(run.Diagnostics), &diags); err != nil {
		return nil, nil, nil, fmt.Errorf("run %d diagnostics: %w", id, err)
	}
	return run, rep, diags, nil
}

// finish records that GitHub shows the run's conclusion — unless the
// release was published while this sync ran (its links are not shown
// yet: the sync the publisher queued must not find the run final).
func (c *Checks) finish(ctx context.Context, p CheckRunPlan) error {
	if p.Conclusion == "" {
		return nil
	}
	return c.Store.MarkReportedFinal(ctx, p.RunID, p.ReleaseURL)
}
