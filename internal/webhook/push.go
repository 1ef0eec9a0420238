package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// decidePush builds a branch push whose commits add or change the spec.
// Pushing needs write access to the repository, so a push is trusted. A
// newer push to the branch supersedes the runs still going on it.
func decidePush(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error) {
	var ev github.PushEvent
	if err := decodePayload(body, &ev); err != nil {
		return store.Intent{}, fmt.Errorf("decode push event: %w", err)
	}
	d.Repo, d.InstallationID = ev.GetRepo().GetFullName(), installationID(ev.GetInstallation().GetID())
	ref := ev.GetRef()
	switch {
	case ev.GetDeleted():
		return ignored("branch deleted"), nil
	case !strings.HasPrefix(ref, "refs/heads/"):
		return ignored("not a branch push: " + ref), nil
	}
	specPath, err := cfg.specPath(ctx, d.InstallationID)
	if err != nil {
		return store.Intent{}, err
	}
	if !touchesSpec(&ev, specPath) {
		return ignored(specPath + " is not changed by this push"), nil
	}
	run := &store.Run{
		Trigger: run.TriggerPush, InstallationID: d.InstallationID, Repo: d.Repo, Ref: ref, HeadSHA: ev.GetAfter(),
		RequestedBy: ev.GetPusher().GetName(), SpecPath: specPath, DefaultBranch: ev.GetRepo().GetDefaultBranch(),
	}
	if ev.GetSender().GetLogin() != "" {
		run.RequestedBy = ev.GetSender().GetLogin()
	}
	return store.Intent{Outcome: store.OutcomeQueued, Run: run, Supersede: true}, nil
}

// touchesSpec reports whether a commit of the push adds or changes the
// spec at specPath.
func touchesSpec(ev *github.PushEvent, specPath string) bool {
	touches := func(c *github.HeadCommit) bool {
		return slices.Contains(c.Added, specPath) || slices.Contains(c.Modified, specPath)
	}
	if hc := ev.GetHeadCommit(); hc != nil && touches(hc) {
		return true
	}
	return slices.ContainsFunc(ev.Commits, touches)
}
