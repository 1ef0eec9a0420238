package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// decidePush builds a branch push whose commits add or change the spec.
// Pushing needs write access to the repository, so a push is trusted. A
// newer push to the branch supersedes the runs still going on it.
func decidePush(ctx context.Context, cfg *Config, body []byte) (Decision, error) {
	var ev github.PushEvent
	if err := decodePayload(body, &ev); err != nil {
		return Decision{}, fmt.Errorf("decode push event: %w", err)
	}
	dec := ignored("")
	dec.Repo = ev.GetRepo().GetFullName()
	if id := ev.GetInstallation().GetID(); id != 0 {
		dec.Installation = &id
	}
	ref := ev.GetRef()
	switch {
	case ev.GetDeleted():
		dec.Reason = "branch deleted"
		return dec, nil
	case !strings.HasPrefix(ref, "refs/heads/"):
		dec.Reason = "not a branch push: " + ref
		return dec, nil
	}
	specPath, err := cfg.specPath(ctx, dec.Installation)
	if err != nil {
		return dec, err
	}
	changed := false
	touches := func(c *github.HeadCommit) bool {
		return slices.Contains(c.Added, specPath) || slices.Contains(c.Modified, specPath)
	}
	for _, c := range ev.Commits {
		changed = changed || touches(c)
	}
	if hc := ev.GetHeadCommit(); hc != nil {
		changed = changed || touches(hc)
	}
	if !changed {
		dec.Reason = specPath + " is not changed by this push"
		return dec, nil
	}
	dec.Outcome, dec.Reason, dec.Supersede = store.OutcomeQueued, "", true
	dec.Run = &store.Run{
		Trigger: store.TriggerPush, InstallationID: dec.Installation, Repo: dec.Repo, Ref: ref, HeadSHA: ev.GetAfter(),
		RequestedBy: ev.GetPusher().GetName(), SpecPath: specPath,
	}
	if ev.GetSender().GetLogin() != "" {
		dec.Run.RequestedBy = ev.GetSender().GetLogin()
	}
	return dec, nil
}
