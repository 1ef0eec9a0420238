package webhook

import (
	"context"

	"github.com/linux-builder/linux-builder/internal/store"
)

// decider reads one event's payload: it describes the delivery in d (its
// repository, installation and action) and returns what the delivery asks
// for. Each is small, in the policy-bot way: decode, return early for what
// is ignored, check what the payload alone can tell, hand over (a run, a
// cancellation, or an event job for what needs GitHub's API). An error is
// the delivery's rejection, or a transientError (answered 503).
type decider func(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error)

// handlers route events to their deciders, one file each.
var handlers = map[string]decider{
	"push":          decidePush,
	"pull_request":  decidePullRequest,
	"issue_comment": decideComment,
	"check_run":     decideCheckRun,
	"check_suite":   decideCheckSuite,
}

// ignored is an intent that asks for nothing.
func ignored(reason string) store.Intent {
	return store.Intent{Outcome: store.OutcomeIgnored, Reason: reason}
}

// installationID is a payload's installation id for the record (nil when
// the payload has none).
func installationID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
