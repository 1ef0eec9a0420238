package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/go-github/v60/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// Check run action identifiers (GitHub allows at most 20 characters).
const (
	ActionCancel  = "cancel"
	ActionRebuild = "rebuild"
)

// decideCheckRun handles the buttons of the bot's check runs: "Re-run"
// (rerequested) and the Cancel and Rebuild actions. Only users with write
// access see them, so they are trusted. Check runs of other apps are
// ignored.
func decideCheckRun(ctx context.Context, cfg *Config, body []byte) (Decision, error) {
	var ev github.CheckRunEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return Decision{}, fmt.Errorf("decode check_run event: %w", err)
	}
	cr := ev.GetCheckRun()
	dec := ignored("")
	dec.Repo, dec.Action = ev.GetRepo().GetFullName(), ev.GetAction()
	if id := ev.GetInstallation().GetID(); id != 0 {
		dec.Installation = &id
	}
	if app := cr.GetApp().GetID(); cfg.AppID != 0 && app != cfg.AppID {
		dec.Reason = fmt.Sprintf("check run of another app (%d)", app)
		return dec, nil
	}
	identifier := ev.GetRequestedAction().Identifier
	switch {
	case ev.GetAction() == "rerequested", ev.GetAction() == "requested_action" && identifier == ActionRebuild:
	case ev.GetAction() == "requested_action" && identifier == ActionCancel:
		prev, err := checkRunRun(ctx, cfg, dec.Repo, cr)
		if err != nil || prev == nil {
			return dec, err
		}
		dec.Reason = fmt.Sprintf("cancel of run %d requested", prev.ID)
		dec.Cancel = &store.Cancel{RunID: prev.ID, Reason: "cancelled by " + ev.GetSender().GetLogin() + " from the check run"}
		return dec, nil
	case ev.GetAction() == "requested_action":
		return dec, fmt.Errorf("unknown check run action %q", identifier)
	default:
		dec.Reason = "check_run action " + ev.GetAction() + " is not handled"
		return dec, nil
	}
	prev, err := checkRunRun(ctx, cfg, dec.Repo, cr)
	if err != nil {
		return dec, err
	}
	if prev == nil {
		dec.Reason = "no run of this check run to rebuild"
		return dec, nil
	}
	return rebuild(dec, prev, ev.GetSender().GetLogin()), nil
}

// decideCheckSuite rebuilds the newest run of a re-requested check suite's
// head commit ("Re-run all checks").
func decideCheckSuite(ctx context.Context, cfg *Config, body []byte) (Decision, error) {
	var ev github.CheckSuiteEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return Decision{}, fmt.Errorf("decode check_suite event: %w", err)
	}
	cs := ev.GetCheckSuite()
	dec := ignored("")
	dec.Repo, dec.Action = ev.GetRepo().GetFullName(), ev.GetAction()
	if id := ev.GetInstallation().GetID(); id != 0 {
		dec.Installation = &id
	}
	if ev.GetAction() != "rerequested" {
		dec.Reason = "check_suite action " + ev.GetAction() + " is not handled (pushes and pull requests start builds)"
		return dec, nil
	}
	if app := cs.GetApp().GetID(); cfg.AppID != 0 && app != 0 && app != cfg.AppID {
		dec.Reason = fmt.Sprintf("check suite of another app (%d)", app)
		return dec, nil
	}
	prev, err := cfg.Store.LatestRunAt(ctx, dec.Repo, cs.GetHeadSHA())
	switch {
	case errors.Is(err, store.ErrNotFound):
		dec.Reason = "no run at " + cs.GetHeadSHA() + " to rebuild"
		return dec, nil
	case err != nil:
		return dec, transientError{err}
	}
	return rebuild(dec, prev, ev.GetSender().GetLogin()), nil
}

// checkRunRun finds the run behind a check run: its external_id is the
// run id; failing that, the newest run of its head commit. Nil when none.
func checkRunRun(ctx context.Context, cfg *Config, repo string, cr *github.CheckRun) (*store.Run, error) {
	if id, err := strconv.ParseInt(cr.GetExternalID(), 10, 64); err == nil && id > 0 {
		r, err := cfg.Store.Run(ctx, id)
		switch {
		case err == nil && r.Repo == repo:
			return r, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, transientError{err}
		}
	}
	r, err := cfg.Store.LatestRunAt(ctx, repo, cr.GetHeadSHA())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, transientError{err}
	}
	return r, nil
}

// rebuild asks for a new run of what prev built.
func rebuild(dec Decision, prev *store.Run, by string) Decision {
	dec.Outcome, dec.Reason = store.OutcomeQueued, fmt.Sprintf("rebuild of run %d", prev.ID)
	dec.Run = rerun(prev, by)
	return dec
}

// rerun is a new run of the same commit, spec path and target as prev.
func rerun(prev *store.Run, by string) *store.Run {
	return &store.Run{
		Trigger: store.TriggerRerun, InstallationID: prev.InstallationID, Repo: prev.Repo, Ref: prev.Ref, HeadSHA: prev.HeadSHA,
		Number: prev.Number, RequestedBy: by, SpecPath: prev.SpecPath, Distro: prev.Distro, SpecSource: prev.SpecSource,
	}
}
