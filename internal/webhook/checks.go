package webhook

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// checkRunEvent is the part of a check_run payload the bot reads. It is
// decoded on its own rather than with go-github's CheckRunEvent: GitHub's
// recorded payloads carry the app's timestamps as "2018-04-25 20:42:10",
// which go-github's Timestamp rejects, and the bot needs none of them.
type checkRunEvent struct {
	Action   string `json:"action"`
	CheckRun struct {
		HeadSHA    string `json:"head_sha"`
		ExternalID string `json:"external_id"`
		App        struct {
			ID int64 `json:"id"`
		} `json:"app"`
	} `json:"check_run"`
	RequestedAction *struct {
		Identifier string `json:"identifier"`
	} `json:"requested_action"`
	Repo         github.Repository `json:"repository"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Sender github.User `json:"sender"`
}

// checkSuiteEvent is the part of a check_suite payload the bot reads (see
// checkRunEvent).
type checkSuiteEvent struct {
	Action     string `json:"action"`
	CheckSuite struct {
		HeadSHA string `json:"head_sha"`
		App     struct {
			ID int64 `json:"id"`
		} `json:"app"`
	} `json:"check_suite"`
	Repo         github.Repository `json:"repository"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Sender github.User `json:"sender"`
}

// decideCheckRun handles the buttons of the bot's check runs: "Re-run"
// (rerequested) and the Cancel and Rebuild actions. Only users with write
// access see them, so they are trusted. Check runs of other apps are
// ignored.
func decideCheckRun(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error) {
	var ev checkRunEvent
	if err := decodePayload(body, &ev); err != nil {
		return store.Intent{}, fmt.Errorf("decode check_run event: %w", err)
	}
	d.Repo, d.Action = ev.Repo.GetFullName(), ev.Action
	if ev.Installation != nil {
		d.InstallationID = installationID(ev.Installation.ID)
	}
	if app := ev.CheckRun.App.ID; cfg.AppID != 0 && app != cfg.AppID {
		return ignored(fmt.Sprintf("check run of another app (%d)", app)), nil
	}
	identifier := ""
	if ev.RequestedAction != nil {
		identifier = ev.RequestedAction.Identifier
	}
	by := ev.Sender.GetLogin()
	switch {
	case ev.Action == "rerequested", ev.Action == "requested_action" && identifier == run.ActionRebuild:
	case ev.Action == "requested_action" && identifier == run.ActionCancel:
		prev, err := checkRunRun(ctx, cfg, d.Repo, ev.CheckRun.ExternalID, ev.CheckRun.HeadSHA)
		if err != nil || prev == nil {
			return ignored("no run of this check run to cancel"), err
		}
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: fmt.Sprintf("cancel of run %d requested", prev.ID),
			Cancel: &store.Cancel{RunID: prev.ID, Reason: "cancelled by " + by + " from the check run"}}, nil
	case ev.Action == "requested_action":
		return store.Intent{}, fmt.Errorf("unknown check run action %q", identifier)
	default:
		return ignored("check_run action " + ev.Action + " is not handled"), nil
	}
	prev, err := checkRunRun(ctx, cfg, d.Repo, ev.CheckRun.ExternalID, ev.CheckRun.HeadSHA)
	if err != nil {
		return store.Intent{}, err
	}
	if prev == nil {
		return ignored("no run of this check run to rebuild"), nil
	}
	return rebuild(prev, by), nil
}

// decideCheckSuite rebuilds the newest run of a re-requested check suite's
// head commit ("Re-run all checks").
func decideCheckSuite(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error) {
	var ev checkSuiteEvent
	if err := decodePayload(body, &ev); err != nil {
		return store.Intent{}, fmt.Errorf("decode check_suite event: %w", err)
	}
	d.Repo, d.Action = ev.Repo.GetFullName(), ev.Action
	if ev.Installation != nil {
		d.InstallationID = installationID(ev.Installation.ID)
	}
	if ev.Action != "rerequested" {
		return ignored("check_suite action " + ev.Action + " is not handled (pushes and pull requests start builds)"), nil
	}
	if app := ev.CheckSuite.App.ID; cfg.AppID != 0 && app != cfg.AppID {
		return ignored(fmt.Sprintf("check suite of another app (%d)", app)), nil
	}
	sha := ev.CheckSuite.HeadSHA
	prev, err := cfg.Store.LatestRunAt(ctx, d.Repo, sha)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ignored("no run at " + sha + " to rebuild"), nil
	case err != nil:
		return store.Intent{}, transientError{err}
	}
	return rebuild(prev, ev.Sender.GetLogin()), nil
}

// checkRunRun finds the run behind a check run: its external_id is the
// run id; failing that, the newest run of its head commit. Nil when none.
func checkRunRun(ctx context.Context, cfg *Config, repo, externalID, sha string) (*store.Run, error) {
	if id, err := strconv.ParseInt(externalID, 10, 64); err == nil && id > 0 {
		r, err := cfg.Store.Run(ctx, id)
		switch {
		case err == nil && r.Repo == repo:
			return r, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, transientError{err}
		}
	}
	r, err := cfg.Store.LatestRunAt(ctx, repo, sha)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, transientError{err}
	}
	return r, nil
}

// rebuild asks for a new run of what prev built.
func rebuild(prev *store.Run, by string) store.Intent {
	return store.Intent{Outcome: store.OutcomeQueued, Reason: fmt.Sprintf("rebuild of run %d", prev.ID), Run: prev.Rerun(by)}
}
