package webhook

import (
	"context"
	"fmt"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// decideComment defers "/build" commands in new comments to an event job,
// which checks the author's permission and carries them out. Edited and
// deleted comments, comments of bots (the bot's own replies among them)
// and comments that are not commands are ignored.
func decideComment(ctx context.Context, cfg *Config, body []byte) (Decision, error) {
	var ev github.IssueCommentEvent
	if err := decodePayload(body, &ev); err != nil {
		return Decision{}, fmt.Errorf("decode issue_comment event: %w", err)
	}
	dec := ignored("")
	dec.Repo, dec.Action = ev.GetRepo().GetFullName(), ev.GetAction()
	if id := ev.GetInstallation().GetID(); id != 0 {
		dec.Installation = &id
	}
	if ev.GetAction() != "created" {
		dec.Reason = "comment " + ev.GetAction() + ": only new comments are commands"
		return dec, nil
	}
	if ev.GetSender().GetType() == "Bot" || ev.GetComment().GetUser().GetType() == "Bot" {
		dec.Reason = "comment by a bot"
		return dec, nil
	}
	cmd, ok := ParseCommand(ev.GetComment().GetBody())
	if !ok {
		dec.Reason = "not a /build command"
		return dec, nil
	}
	if dec.Installation == nil {
		return dec, fmt.Errorf("issue_comment event without an installation")
	}
	specPath, err := cfg.specPath(ctx, dec.Installation)
	if err != nil {
		return dec, err
	}
	dec.Outcome, dec.Reason = store.OutcomeDeferred, "/build "+cmd.Name+": waiting for the author's permission"
	dec.Event = &store.EventJob{
		Kind: store.EventCommand, InstallationID: *dec.Installation, Repo: dec.Repo, Number: ev.GetIssue().GetNumber(),
		IsPullRequest: ev.GetIssue().IsPullRequest(), Action: ev.GetAction(), Actor: ev.GetSender().GetLogin(),
		Command: cmd.Name, Argument: cmd.Argument(), PRFlag: cmd.PR, CommentID: ev.GetComment().GetID(), SpecPath: specPath,
		DefaultBranch: ev.GetRepo().GetDefaultBranch(),
	}
	return dec, nil
}
