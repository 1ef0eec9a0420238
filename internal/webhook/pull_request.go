package webhook

import (
	"context"
	"fmt"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// decidePullRequest defers opened, synchronize and reopened pull requests
// to an event job: which files they change and whether their author may
// build both need GitHub's API. A closed pull request's active runs are
// cancelled.
func decidePullRequest(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error) {
	var ev github.PullRequestEvent
	if err := decodePayload(body, &ev); err != nil {
		return store.Intent{}, fmt.Errorf("decode pull_request event: %w", err)
	}
	pr := ev.GetPullRequest()
	d.Repo, d.Action, d.InstallationID = ev.GetRepo().GetFullName(), ev.GetAction(), installationID(ev.GetInstallation().GetID())
	number := ev.GetNumber()
	if number == 0 {
		number = pr.GetNumber()
	}
	switch ev.GetAction() {
	case "opened", "synchronize", "reopened":
	case "closed":
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: "pull request closed: its active runs are cancelled",
			Cancel: &store.Cancel{Repo: d.Repo, Ref: run.PullRef(number), Reason: "the pull request was closed"}}, nil
	default:
		return ignored("pull_request action " + ev.GetAction() + " is not built"), nil
	}
	if d.InstallationID == nil {
		return store.Intent{}, fmt.Errorf("pull_request event without an installation")
	}
	if number == 0 || pr.GetHead().GetSHA() == "" {
		return store.Intent{}, fmt.Errorf("pull_request event without a number or head SHA")
	}
	specPath, err := cfg.specPath(ctx, d.InstallationID)
	if err != nil {
		return store.Intent{}, err
	}
	headRepo := pr.GetHead().GetRepo().GetFullName()
	return store.Intent{Outcome: store.OutcomeDeferred, Reason: "waiting for the pull request's files and its author's permission",
		Event: &store.EventJob{
			Kind: store.EventPullRequest, InstallationID: *d.InstallationID, Repo: d.Repo, Number: number, IsPullRequest: true,
			Action: ev.GetAction(), HeadSHA: pr.GetHead().GetSHA(), HeadRepo: headRepo,
			// A head repository that is gone (a deleted fork) is not ours.
			Fork:  headRepo == "" || headRepo != d.Repo,
			Actor: ev.GetSender().GetLogin(), SpecPath: specPath,
		}}, nil
}
