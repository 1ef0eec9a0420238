package webhook

import (
	"context"
	"fmt"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// decidePullRequest defers opened, synchronize and reopened pull requests
// to an event job: which files they change and whether their author may
// build both need GitHub's API. A closed pull request's active runs are
// cancelled.
func decidePullRequest(ctx context.Context, cfg *Config, body []byte) (Decision, error) {
	var ev github.PullRequestEvent
	if err := decodePayload(body, &ev); err != nil {
		return Decision{}, fmt.Errorf("decode pull_request event: %w", err)
	}
	pr := ev.GetPullRequest()
	dec := ignored("")
	dec.Repo, dec.Action = ev.GetRepo().GetFullName(), ev.GetAction()
	if id := ev.GetInstallation().GetID(); id != 0 {
		dec.Installation = &id
	}
	number := ev.GetNumber()
	if number == 0 {
		number = pr.GetNumber()
	}
	switch ev.GetAction() {
	case "opened", "synchronize", "reopened":
	case "closed":
		dec.Reason = "pull request closed: its active runs are cancelled"
		dec.Cancel = &store.Cancel{Repo: dec.Repo, Ref: PullRef(number), Reason: "the pull request was closed"}
		return dec, nil
	default:
		dec.Reason = "pull_request action " + ev.GetAction() + " is not built"
		return dec, nil
	}
	if dec.Installation == nil {
		return dec, fmt.Errorf("pull_request event without an installation")
	}
	if number == 0 || pr.GetHead().GetSHA() == "" {
		return dec, fmt.Errorf("pull_request event without a number or head SHA")
	}
	specPath, err := cfg.specPath(ctx, dec.Installation)
	if err != nil {
		return dec, err
	}
	headRepo := pr.GetHead().GetRepo().GetFullName()
	dec.Outcome, dec.Reason = store.OutcomeDeferred, "waiting for the pull request's files and its author's permission"
	dec.Event = &store.EventJob{
		Kind: store.EventPullRequest, InstallationID: *dec.Installation, Repo: dec.Repo, Number: number, IsPullRequest: true,
		Action: ev.GetAction(), HeadSHA: pr.GetHead().GetSHA(), HeadRepo: headRepo,
		// A head repository that is gone (a deleted fork) is not ours.
		Fork:  headRepo == "" || headRepo != dec.Repo,
		Actor: ev.GetSender().GetLogin(), SpecPath: specPath,
	}
	return dec, nil
}

// PullRef is the ref GitHub keeps for a pull request's head.
func PullRef(number int) string { return fmt.Sprintf("refs/pull/%d/head", number) }
