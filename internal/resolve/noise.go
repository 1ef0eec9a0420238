package resolve

import (
	"context"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
)

// refusalsPerHour is how many refusal comments a pull request or issue
// gets an hour (outsiders' commands, approval requests, exhausted
// quotas); the others get a 👎 reaction on the command instead.
const refusalsPerHour = 1

// refusal returns reply if this issue or pull request may get another
// refusal comment this hour; otherwise it reacts 👎 to the command (when
// there is one) and returns "".
func (e *Events) refusal(ctx context.Context, ev *store.EventJob, reply string) (string, error) {
	ok, _, err := e.Store.TakeTokens(ctx, []store.Bucket{{
		Key: fmt.Sprintf("refusal:%d:%s#%d", ev.InstallationID, ev.Repo, ev.Number), Burst: refusalsPerHour, PerHour: refusalsPerHour}})
	if err != nil {
		return "", fmt.Errorf("refusal quota: %w", err)
	}
	if ok {
		return reply, nil
	}
	if ev.CommentID != 0 {
		if err := e.GitHub.React(ctx, ev.InstallationID, ev.Repo, ev.CommentID, "-1"); err != nil {
			return "", err
		}
	}
	return "", nil
}

// commandQuota takes a command token for ev's installation, repository
// and author; without one it answers with a refusal.
func (e *Events) commandQuota(ctx context.Context, ev *store.EventJob) (bool, store.Intent, string, error) {
	if e.CommandQuota == nil {
		return true, store.Intent{}, "", nil
	}
	ok, wait, err := e.Store.TakeTokens(ctx, e.CommandQuota.Buckets("command", ev.InstallationID, ev.Repo, ev.Actor))
	if err != nil {
		return false, store.Intent{}, "", fmt.Errorf("command quota: %w", err)
	}
	if ok {
		return true, store.Intent{}, "", nil
	}
	reply, err := e.refusal(ctx, ev, fmt.Sprintf("@%s too many `/build` commands here right now; try again in %s.",
		ev.Actor, wait.Round(time.Minute)))
	return false, store.Intent{Outcome: store.OutcomeRejected, Reason: "command quota exhausted"}, reply, err
}
