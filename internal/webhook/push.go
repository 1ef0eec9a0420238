package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// decidePush builds a branch push whose commits add or change the spec.
// Pushing needs write access to the repository, so a push is trusted.
func decidePush(cfg *Config, body []byte) (Decision, error) {
	var ev github.PushEvent
	if err := json.Unmarshal(body, &ev); err != nil {
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
	changed := false
	for _, c := range ev.Commits {
		changed = changed || slices.Contains(c.Added, cfg.SpecPath) || slices.Contains(c.Modified, cfg.SpecPath)
	}
	if hc := ev.GetHeadCommit(); hc != nil {
		changed = changed || slices.Contains(hc.Added, cfg.SpecPath) || slices.Contains(hc.Modified, cfg.SpecPath)
	}
	if !changed {
		dec.Reason = cfg.SpecPath + " is not changed by this push"
		return dec, nil
	}
	dec.Outcome, dec.Reason = store.OutcomeQueued, ""
	dec.Run = &store.Run{
		Trigger: store.TriggerPush, InstallationID: dec.Installation, Repo: dec.Repo, Ref: ref, HeadSHA: ev.GetAfter(),
		RequestedBy: ev.GetPusher().GetName(), SpecPath: cfg.SpecPath,
	}
	if ev.GetSender().GetLogin() != "" {
		dec.Run.RequestedBy = ev.GetSender().GetLogin()
	}
	return dec, nil
}
