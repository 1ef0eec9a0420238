package resolve

import (
	"context"
	"fmt"
	"strings"

	"github.com/linux-builder/linux-builder/internal/store"
)

// confirm carries out "/build confirm <hash>" by a user with write access:
// it builds the generated spec that was shown on this issue or pull
// request with that hash, exactly as shown, once.
func (e *Events) confirm(ctx context.Context, ev *store.EventJob) (store.Intent, string, error) {
	if e.Prompter == nil {
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: "no AI service configured for prompt builds"},
			fmt.Sprintf("@%s there are no generated specs here to confirm: this installation has no AI service.", ev.Actor), nil
	}
	arg := strings.ToLower(strings.TrimSpace(ev.Argument))
	if len(arg) < confirmChars || len(arg) > 64 || strings.Trim(arg, "0123456789abcdef") != "" {
		return store.Intent{Outcome: store.OutcomeRejected, Reason: "/build confirm without a spec hash"},
			fmt.Sprintf("@%s `/build confirm` names the generated spec you read by its hash, as shown under it "+
				"(`/build confirm` followed by at least %d hex characters).", ev.Actor, confirmChars), nil
	}
	found, err := e.Store.PendingSpecs(ctx, ev.InstallationID, ev.Repo, ev.Number, arg)
	if err != nil {
		return store.Intent{}, "", err
	}
	if len(found) != 1 || store.SpecHash(found[0].SpecSource) != found[0].SpecHash {
		return store.Intent{Outcome: store.OutcomeRejected, Reason: "no pending spec " + arg},
			fmt.Sprintf("@%s no generated spec with hash `%s` is waiting here. A generated spec waits %d days for its confirmation "+
				"and is built once.", ev.Actor, arg, int(store.PendingSpecTTL.Hours()/24)), nil
	}
	p := found[0]
	res, reply, err := e.Prompter.Confirm(ctx, ev, &p)
	if err != nil {
		return store.Intent{}, "", err
	}
	res.Confirm = &store.ConfirmSpec{ID: p.ID, By: ev.Actor}
	return res, reply, nil
}

// Confirm implements Prompter: it builds pending spec g, which a user
// with write access confirmed.
func (p *PromptBuilds) Confirm(ctx context.Context, ev *store.EventJob, g *store.PendingSpec) (store.Intent, string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "@%s confirmed the spec generated from @%s's description (`%s`).\n\n", ev.Actor, g.RequestedBy, g.SpecHash[:confirmChars])
	logs := []string{"generated from the description: " + g.Prompt,
		fmt.Sprintf("spec sha256 %s, confirmed by %s (it runs code chosen by the model)", g.SpecHash, ev.Actor)}
	return p.start(ctx, ev, g, &b, "generated spec confirmed: "+g.SpecHash[:confirmChars], logs)
}
