package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// PromptGitHub is what prompt builds ask of GitHub beyond GitHub.
type PromptGitHub interface {
	GitHub
	BranchHead(ctx context.Context, installationID int64, repo, branch string) (string, error)
	OpenSpecPR(ctx context.Context, installationID int64, p github.SpecPR) (string, error)
}

// Generator makes a spec from a description (ai.Generator), reporting
// each attempt to log.
type Generator interface {
	GenerateLogged(ctx context.Context, prompt string, log func(string)) (*ai.Result, error)
}

// PromptBuilds carries out "/build <description>": the spec is generated
// and validated, shown in the reply, and built — at the default branch's
// head on an issue, at the pull request's head on a pull request. With
// --pr it is also proposed as a pull request adding linux-build.yaml.
type PromptBuilds struct {
	GitHub    PromptGitHub
	Generator Generator
}

var _ Prompter = (*PromptBuilds)(nil)

// Prompt implements Prompter.
func (p *PromptBuilds) Prompt(ctx context.Context, ev *store.EventJob) (store.Intent, string, error) {
	var attempts []string
	res, err := p.Generator.GenerateLogged(ctx, ev.Argument, func(msg string) { attempts = append(attempts, "generate: "+msg) })
	var ge *ai.GenerateError
	switch {
	case errors.As(err, &ge):
		return store.Intent{Outcome: store.OutcomeRejected, Reason: "no valid spec from the description"},
			fmt.Sprintf("@%s I could not turn that description into a valid spec in %d attempts. The last attempt had these problems:\n\n%s\n\nTry describing it differently, or commit a `%s`.",
				ev.Actor, ge.Attempts, bullet(ge.Problems), ev.SpecPath), nil
	case errors.Is(err, ai.ErrUnreachable), errors.Is(err, ai.ErrModelMissing):
		return store.Intent{Outcome: store.OutcomeRejected, Reason: err.Error()},
			fmt.Sprintf("@%s the AI service is not available right now (%v). Try again later, or commit a `%s`.", ev.Actor, err, ev.SpecPath), nil
	case err != nil:
		return store.Intent{}, "", err // a timeout or a cancelled job: retried
	}
	ref, sha, err := p.target(ctx, ev)
	if err != nil {
		return store.Intent{}, "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Generated from @%s's description:\n\n%s", ev.Actor, showSpec(res.YAML))
	if len(res.Warnings) > 0 {
		fmt.Fprintf(&b, "**Warnings**\n\n%s\n\n", bullet(diagStrings(res.Warnings)))
	}
	logs := append([]string{"generated from the description: " + ev.Argument}, attempts...)
	if exec := executableContent(res.YAML); len(exec) > 0 {
		// Code the model chose: a writer reads it and confirms this
		// exact spec (its hash) before anything runs.
		hash := store.SpecHash(string(res.YAML))
		fmt.Fprintf(&b, "**Not built yet**: this spec runs code chosen by the model:\n\n%s\n\n"+
			"Read it; a user with write access can build this exact spec with `/build confirm %s`.", bullet(exec), hash[:confirmChars])
		return store.Intent{Outcome: store.OutcomeIgnored, Reason: "generated spec runs code: awaiting /build confirm " + hash[:confirmChars],
			Pending: &store.PendingSpec{InstallationID: ev.InstallationID, Repo: ev.Repo, Number: ev.Number, SpecHash: hash,
				SpecSource: string(res.YAML), Prompt: ev.Argument, Ref: ref, HeadSHA: sha, PRFlag: ev.PRFlag,
				DefaultBranch: ev.DefaultBranch, RequestedBy: ev.Actor, DeliveryRowID: ev.DeliveryRowID}}, b.String(), nil
	}
	return p.start(ctx, ev, &store.PendingSpec{InstallationID: ev.InstallationID, Repo: ev.Repo, Number: ev.Number,
		SpecSource: string(res.YAML), Prompt: ev.Argument, Ref: ref, HeadSHA: sha, PRFlag: ev.PRFlag, DefaultBranch: ev.DefaultBranch,
		RequestedBy: ev.Actor, DeliveryRowID: ev.DeliveryRowID}, &b, fmt.Sprintf("spec generated in %d attempt(s)", res.Attempts), logs)
}

// confirmChars is how much of a spec's hash "/build confirm" shows and
// needs: 64 bits, so no second pending spec shares it by chance.
const confirmChars = 16

// target is where a prompt build builds: the pull request's head, or the
// default branch's head on an issue.
func (p *PromptBuilds) target(ctx context.Context, ev *store.EventJob) (ref, sha string, err error) {
	if ev.IsPullRequest {
		pr, err := p.GitHub.PullRequest(ctx, ev.InstallationID, ev.Repo, ev.Number)
		if err != nil {
			return "", "", err
		}
		return run.PullRef(ev.Number), pr.GetHead().GetSHA(), nil
	}
	branch := ev.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	if sha, err = p.GitHub.BranchHead(ctx, ev.InstallationID, ev.Repo, branch); err != nil {
		return "", "", err
	}
	return "refs/heads/" + branch, sha, nil
}

// start builds generated spec g (proposing it as a pull request first
// when asked), continuing reply b.
func (p *PromptBuilds) start(ctx context.Context, ev *store.EventJob, g *store.PendingSpec, b *strings.Builder, reason string,
	logs []string) (store.Intent, string, error) {
	prURL := ""
	if g.PRFlag {
		base := g.DefaultBranch
		if base == "" {
			base = "main"
		}
		url, err := p.GitHub.OpenSpecPR(ctx, ev.InstallationID, github.SpecPR{
			Repo: ev.Repo, Base: base, BaseSHA: g.HeadSHA, Branch: fmt.Sprintf("linux-builder/spec-%d", g.DeliveryRowID),
			Path: ai.SpecFile, Content: []byte(g.SpecSource), CommitText: "Add linux-build.yaml generated by Linux Builder",
			Title: "Add linux-build.yaml", Body: fmt.Sprintf("Generated by Linux Builder from @%s's description in #%d:\n\n> %s\n",
				g.RequestedBy, g.Number, strings.ReplaceAll(g.Prompt, "\n", "\n> ")),
		})
		if err != nil {
			return store.Intent{}, "", err
		}
		fmt.Fprintf(b, "Proposed as a pull request: %s\n\n", url)
		prURL = url
	}
	fmt.Fprintf(b, "Building it at %s as %s.", run.ShortSHA(g.HeadSHA), runPlaceholder)
	run := &store.Run{Trigger: run.TriggerComment, InstallationID: &ev.InstallationID, Repo: ev.Repo, Ref: g.Ref, HeadSHA: g.HeadSHA,
		Number: &ev.Number, RequestedBy: ev.Actor, SpecPath: ai.SpecFile, SpecSource: g.SpecSource, Prompt: g.Prompt, SpecPRURL: prURL,
		SourceComment: sourceComment(ev)}
	// The attempts open the run's log.
	return store.Intent{Outcome: store.OutcomeQueued, Reason: reason, Run: run, Logs: logs}, b.String(), nil
}

// showSpec is the generated spec, folded, in a fence longer than any
// run of backticks in it (a script cannot end the fence and write
// markdown of its own).
func showSpec(y []byte) string {
	fence := "```"
	for strings.Contains(string(y), fence) {
		fence += "`"
	}
	return fmt.Sprintf("<details><summary><code>%s</code></summary>\n\n%syaml\n%s\n%s\n\n</details>\n\n",
		ai.SpecFile, fence, strings.TrimSuffix(string(y), "\n"), fence)
}

func bullet(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func diagStrings[T interface{ String() string }](ds []T) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}
