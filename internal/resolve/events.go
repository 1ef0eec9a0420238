// Package resolve is the worker side of the webhook: it resolves the
// deliveries the receiver deferred to event jobs (pull requests and "/build"
// comments need the GitHub API: changed files, the commenter's permission,
// replies), applying the trust rules: pull requests (events.go), comment
// commands (events.go, with the words of internal/command), approvals
// (approve.go), prompt builds and their confirmation (prompt.go,
// confirm.go), and the quotas on replies (noise.go). Each decision is a
// store.Intent that store.Resolve records. It also finds the deliveries
// GitHub could not hand over and asks for them again (redeliver.go).
package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/command"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// GitHub is what deciding deferred deliveries asks of GitHub
// (internal/github.App).
type GitHub interface {
	Permission(ctx context.Context, installationID int64, repo, user string) (string, error)
	PullRequest(ctx context.Context, installationID int64, repo string, number int) (*github.PullRequest, error)
	PullRequestFiles(ctx context.Context, installationID int64, repo string, number int) ([]*github.CommitFile, error)
	Comment(ctx context.Context, installationID int64, repo string, number int, body string) (int64, error)
	React(ctx context.Context, installationID int64, repo string, commentID int64, content string) error
}

// EventStore is what deciding deferred deliveries needs from the store.
type EventStore interface {
	Resolve(ctx context.Context, deliveryRowID int64, r store.Intent, jobs store.Jobs) (store.ResolveResult, error)
	Approved(ctx context.Context, repo string, number int, sha string) (string, bool, error)
	LatestRunOf(ctx context.Context, repo string, number int) (*store.Run, error)
	PendingSpecs(ctx context.Context, installationID int64, repo string, number int, prefix string) ([]store.PendingSpec, error)
	TakeTokens(ctx context.Context, buckets []store.Bucket) (bool, time.Duration, error)
	RecordReport(ctx context.Context, id int64, u store.ReportUpdate) error
}

// Prompter builds from a plain-English description (/build <prompt>). Nil
// when no AI service is configured.
type Prompter interface {
	Prompt(ctx context.Context, ev *store.EventJob) (store.Intent, string, error)
	// Confirm builds a generated spec that runs code, once a user with
	// write access confirmed it.
	Confirm(ctx context.Context, ev *store.EventJob, p *store.PendingSpec) (store.Intent, string, error)
}

// Events decides deferred deliveries: it is the queue's EventHandler. It
// applies the trust rules: pushes and same-repository pull requests by
// users with write access build; pull requests from forks or from users
// without write access build only once a user with write access has
// commented "/build approve", and the approval covers only the head
// commit it was given for. Permission comes from GitHub's
// collaborator-permission API.
type Events struct {
	GitHub   GitHub
	Store    EventStore
	Jobs     store.Jobs
	Prompter Prompter
	// CommandQuota, when set, limits "/build" commands per installation,
	// repository and user (token buckets in the database).
	CommandQuota *store.Quota
	Logger       *slog.Logger
}

// HandleEvent implements queue.EventHandler. Errors (GitHub or the store
// unreachable) are retried by the queue; a delivery is resolved once.
func (e *Events) HandleEvent(ctx context.Context, ev *store.EventJob) error {
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("delivery_row", ev.DeliveryRowID, logging.KeyRepo, ev.Repo, "number", ev.Number, "kind", ev.Kind)
	var (
		res   store.Intent
		reply string
		err   error
	)
	switch ev.Kind {
	case store.EventPullRequest:
		res, reply, err = e.pullRequest(ctx, ev)
	case store.EventCommand:
		res, reply, err = e.command(ctx, ev)
	default:
		res = store.Intent{Outcome: store.OutcomeRejected, Reason: "unknown event job kind " + ev.Kind}
	}
	if err != nil {
		return err
	}
	out, err := e.Store.Resolve(ctx, ev.DeliveryRowID, res, e.Jobs)
	if err != nil {
		return fmt.Errorf("resolve delivery: %w", err)
	}
	log.InfoContext(ctx, "event decided", "outcome", res.Outcome, "reason", res.Reason, logging.KeyRun, out.RunID,
		"already", out.Already, "cancelled", out.Cancelled)
	if reply != "" {
		reply = expandReply(reply, out)
		id, err := e.GitHub.Comment(ctx, ev.InstallationID, ev.Repo, ev.Number, reply)
		if err != nil {
			// The decision stands; the job is retried to post the reply
			// (Resolve is idempotent).
			return fmt.Errorf("reply: %w", err)
		}
		if res.Run != nil && out.RunID != 0 && !out.Coalesced && ev.Kind == store.EventCommand {
			// The reply is the run's status comment, edited in place as
			// the run goes on.
			if err := e.Store.RecordReport(ctx, out.RunID, store.ReportUpdate{CommentID: &id}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Placeholders in a reply, replaced by what the resolution did.
const (
	runPlaceholder       = "{run}"
	cancelledPlaceholder = "{cancelled}"
)

func expandReply(reply string, out store.ResolveResult) string {
	run := "a run"
	if out.RunID != 0 {
		run = fmt.Sprintf("run %d", out.RunID)
		if out.Coalesced {
			run += " (already queued)"
		}
	}
	cancelled := "no active build"
	switch n := len(out.Cancelled); {
	case n == 1:
		cancelled = fmt.Sprintf("run %d", out.Cancelled[0])
	case n > 1:
		cancelled = fmt.Sprintf("%d runs (%s)", n, strings.Trim(fmt.Sprint(out.Cancelled), "[]"))
	}
	return strings.NewReplacer(runPlaceholder, run, cancelledPlaceholder, cancelled).Replace(reply)
}

// writer reports whether permission allows starting builds.
func writer(permission string) bool {
	return permission == "admin" || permission == "write" || permission == "maintain"
}

func (e *Events) pullRequest(ctx context.Context, ev *store.EventJob) (store.Intent, string, error) {
	files, err := e.GitHub.PullRequestFiles(ctx, ev.InstallationID, ev.Repo, ev.Number)
	if err != nil {
		return store.Intent{}, "", err
	}
	changed := false
	for _, f := range files {
		if f.GetFilename() == ev.SpecPath && f.GetStatus() != "removed" {
			changed = true
		}
	}
	if !changed {
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: ev.SpecPath + " is not changed by the pull request"}, "", nil
	}
	trusted, why, err := e.trusted(ctx, ev)
	if err != nil {
		return store.Intent{}, "", err
	}
	if !trusted {
		res := store.Intent{Outcome: store.OutcomeIgnored, Reason: "awaiting approval: " + why}
		reply := ""
		if ev.Action == "opened" || ev.Action == "reopened" {
			reply, err = e.refusal(ctx, ev, fmt.Sprintf("This pull request changes `%s`, but %s, so it is not built automatically: builds run the spec's scripts. "+
				"A maintainer can review commit %s and build it by commenting %s. Each new push needs a new approval.",
				ev.SpecPath, why, run.ShortSHA(ev.HeadSHA), approveCommand(ev.HeadSHA)))
		}
		return res, reply, err
	}
	return store.Intent{Outcome: store.OutcomeQueued, Supersede: true, Run: &store.Run{
		Trigger: run.TriggerPullRequest, InstallationID: &ev.InstallationID, Repo: ev.Repo, Ref: run.PullRef(ev.Number),
		HeadSHA: ev.HeadSHA, Number: &ev.Number, RequestedBy: ev.Actor, SpecPath: ev.SpecPath,
	}}, "", nil
}

// trusted decides whether a pull request head builds without approval.
func (e *Events) trusted(ctx context.Context, ev *store.EventJob) (bool, string, error) {
	if by, ok, err := e.Store.Approved(ctx, ev.Repo, ev.Number, ev.HeadSHA); err != nil {
		return false, "", fmt.Errorf("read approval: %w", err)
	} else if ok {
		return true, "approved by " + by, nil
	}
	if ev.Fork {
		return false, "it comes from a fork", nil
	}
	perm, err := e.GitHub.Permission(ctx, ev.InstallationID, ev.Repo, ev.Actor)
	if err != nil {
		return false, "", err
	}
	if !writer(perm) {
		return false, fmt.Sprintf("@%s has %s permission on this repository", ev.Actor, perm), nil
	}
	return true, "", nil
}

func (e *Events) command(ctx context.Context, ev *store.EventJob) (store.Intent, string, error) {
	if ok, res, reply, err := e.commandQuota(ctx, ev); !ok {
		return res, reply, err
	}
	perm, err := e.GitHub.Permission(ctx, ev.InstallationID, ev.Repo, ev.Actor)
	if err != nil {
		return store.Intent{}, "", err
	}
	switch ev.Command {
	case command.Help, command.Unknown:
		// Anyone may ask (a mistyped command is answered like help), but
		// not flood.
		res := store.Intent{Outcome: store.OutcomeIgnored, Reason: "/build help"}
		reply := command.HelpText
		if ev.Command == command.Unknown {
			res = store.Intent{Outcome: store.OutcomeRejected, Reason: "unknown command /build " + command.Echo(ev.Argument)}
			reply = "@" + ev.Actor + " " + command.UnknownText(ev.Argument)
		}
		if !writer(perm) {
			reply, err = e.refusal(ctx, ev, reply)
		}
		return res, reply, err
	}
	if !writer(perm) {
		reply, err := e.refusal(ctx, ev, fmt.Sprintf("@%s `/build %s` needs write access to this repository (you have %s).", ev.Actor, ev.Command, perm))
		return store.Intent{Outcome: store.OutcomeRejected, Reason: fmt.Sprintf("%s has %s permission", ev.Actor, perm)}, reply, err
	}
	if ev.CommentID != 0 {
		// 👀: the command was seen and is being acted on.
		if err := e.GitHub.React(ctx, ev.InstallationID, ev.Repo, ev.CommentID, "eyes"); err != nil {
			return store.Intent{}, "", err
		}
	}
	switch ev.Command {
	case command.Build, command.Approve:
		if !ev.IsPullRequest {
			return store.Intent{Outcome: store.OutcomeIgnored, Reason: "/build " + ev.Command + " on an issue"},
				fmt.Sprintf("@%s `/build %s` works on pull requests; on an issue, describe the system: `/build <description>`.\n\n%s",
					ev.Actor, ev.Command, command.HelpText), nil
		}
		pr, err := e.GitHub.PullRequest(ctx, ev.InstallationID, ev.Repo, ev.Number)
		if err != nil {
			return store.Intent{}, "", err
		}
		if pr.GetState() != "open" {
			return store.Intent{Outcome: store.OutcomeIgnored, Reason: "pull request is " + pr.GetState()},
				fmt.Sprintf("@%s this pull request is %s: nothing to build.", ev.Actor, pr.GetState()), nil
		}
		return e.buildPull(ctx, ev, pr)
	case command.Retry:
		prev, err := e.Store.LatestRunOf(ctx, ev.Repo, ev.Number)
		if errors.Is(err, store.ErrNotFound) {
			return store.Intent{Outcome: store.OutcomeIgnored, Reason: "nothing to retry"},
				fmt.Sprintf("@%s there is no earlier build here to retry.", ev.Actor), nil
		}
		if err != nil {
			return store.Intent{}, "", err
		}
		again := prev.Rerun(ev.Actor)
		again.SourceComment = sourceComment(ev)
		return store.Intent{Outcome: store.OutcomeQueued, Reason: fmt.Sprintf("retry of run %d", prev.ID), Run: again},
			fmt.Sprintf("Retrying run %d (%s at %s) as %s.", prev.ID, prev.SpecPath, run.ShortSHA(prev.HeadSHA), runPlaceholder), nil
	case command.Cancel:
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: "cancel requested",
				Cancel: &store.Cancel{Repo: ev.Repo, Number: ev.Number, Reason: "cancelled by " + ev.Actor}},
			"@" + ev.Actor + " cancelled " + cancelledPlaceholder + ".", nil
	case command.Confirm:
		return e.confirm(ctx, ev)
	case command.Prompt:
		if e.Prompter == nil {
			return store.Intent{Outcome: store.OutcomeIgnored, Reason: "no AI service configured for prompt builds"},
				fmt.Sprintf("@%s building from a description needs the AI service, which this installation of Linux Builder does not have configured. "+
					"Commit a `%s` instead, or ask the operator to set `OLLAMA_URL`.", ev.Actor, ev.SpecPath), nil
		}
		if strings.TrimSpace(ev.Argument) == "" {
			return store.Intent{Outcome: store.OutcomeIgnored, Reason: "/build --pr without a description"}, command.HelpText, nil
		}
		return e.Prompter.Prompt(ctx, ev)
	}
	return store.Intent{Outcome: store.OutcomeRejected, Reason: "unknown command " + ev.Command}, command.HelpText, nil
}

func sourceComment(ev *store.EventJob) *int64 {
	if ev.CommentID == 0 {
		return nil
	}
	id := ev.CommentID
	return &id
}
