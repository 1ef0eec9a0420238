package resolve

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/command"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// minSHA is the shortest commit SHA prefix "/build approve" accepts.
const minSHA = 7

// approveCommand is the command that approves sha, to copy into a comment.
func approveCommand(sha string) string { return "`/build approve " + sha + "`" }

// validSHA reports whether s is a commit SHA or a prefix of one of at
// least minSHA hex characters.
func validSHA(s string) bool {
	if len(s) < minSHA || len(s) > 40 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// buildPull carries out "/build" and "/build approve <sha>" on an open
// pull request pr, by a user with write access. An approval names the
// commit the maintainer reviewed: it builds only while that commit is
// still the head when this job runs (the fork may push between the
// comment and the job), and records the approval of that commit only.
// A plain "/build" builds the head of a pull request that would build on
// its own (same repository, author with write access); one from a fork
// or an outsider needs the approval of a named commit.
func (e *Events) buildPull(ctx context.Context, ev *store.EventJob, pr *github.PullRequest) (store.Intent, string, error) {
	head := pr.GetHead().GetSHA()
	arg := strings.ToLower(strings.TrimSpace(ev.Argument))
	approving := ev.Command == command.Approve
	if approving || arg != "" {
		if !validSHA(arg) {
			return store.Intent{Outcome: store.OutcomeRejected, Reason: "approval without a commit SHA"},
				fmt.Sprintf("@%s an approval names the commit you reviewed (at least %d hex characters of its SHA). "+
					"The head of this pull request is %s: approve this exact commit with %s.", ev.Actor, minSHA, head, approveCommand(head)), nil
		}
		if !strings.HasPrefix(head, arg) {
			return store.Intent{Outcome: store.OutcomeRejected, Reason: fmt.Sprintf("approval of %s, but the head is %s", arg, head)},
				fmt.Sprintf("@%s you approved %s, but the head of this pull request is now %s: nothing was built. "+
					"Review the new commits, then approve this exact commit with %s.", ev.Actor, arg, head, approveCommand(head)), nil
		}
		approving = true
	} else {
		trusted, why, err := e.trustedHead(ctx, ev, pr)
		if err != nil {
			return store.Intent{}, "", err
		}
		if !trusted {
			return store.Intent{Outcome: store.OutcomeRejected, Reason: "build of an unapproved head: " + why},
				fmt.Sprintf("@%s this pull request is not built on a plain `/build`: %s. "+
					"Review its head %s, then approve this exact commit with %s.", ev.Actor, why, head, approveCommand(head)), nil
		}
	}
	trigger := run.TriggerComment
	res := store.Intent{Outcome: store.OutcomeQueued, Supersede: true}
	verb := "Building"
	if approving {
		trigger, verb = run.TriggerPullRequest, "Approved and building"
		res.Approve = &store.Approval{Repo: ev.Repo, Number: ev.Number, HeadSHA: head, ApprovedBy: ev.Actor}
	}
	res.Run = &store.Run{Trigger: trigger, InstallationID: &ev.InstallationID, Repo: ev.Repo, Ref: run.PullRef(ev.Number),
		HeadSHA: head, Number: &ev.Number, RequestedBy: ev.Actor, SpecPath: ev.SpecPath, SourceComment: sourceComment(ev)}
	return res, fmt.Sprintf("%s `%s` at %s as %s (requested by @%s).", verb, ev.SpecPath, run.ShortSHA(head), runPlaceholder, ev.Actor), nil
}

// trustedHead decides whether pr's head builds on a plain "/build": it
// was approved, or it comes from the repository itself and its author may
// write.
func (e *Events) trustedHead(ctx context.Context, ev *store.EventJob, pr *github.PullRequest) (bool, string, error) {
	head := pr.GetHead().GetSHA()
	if _, ok, err := e.Store.Approved(ctx, ev.Repo, ev.Number, head); err != nil {
		return false, "", fmt.Errorf("read approval: %w", err)
	} else if ok {
		return true, "", nil
	}
	if pr.GetHead().GetRepo().GetFullName() != ev.Repo {
		return false, "it comes from a fork", nil
	}
	author := pr.GetUser().GetLogin()
	perm, err := e.GitHub.Permission(ctx, ev.InstallationID, ev.Repo, author)
	if err != nil {
		return false, "", err
	}
	if !writer(perm) {
		return false, fmt.Sprintf("its author @%s has %s permission on this repository", author, perm), nil
	}
	return true, "", nil
}
