package webhook

import (
	"context"
	"fmt"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/command"
	"github.com/linux-builder/linux-builder/internal/store"
)

// decideComment defers "/build" commands in new comments to an event job,
// which checks the author's permission and carries them out. Edited and
// deleted comments, comments of bots (the bot's own replies among them)
// and comments that are not commands are ignored.
func decideComment(ctx context.Context, cfg *Config, body []byte, d *store.Delivery) (store.Intent, error) {
	var ev github.IssueCommentEvent
	if err := decodePayload(body, &ev); err != nil {
		return store.Intent{}, fmt.Errorf("decode issue_comment event: %w", err)
	}
	d.Repo, d.Action, d.InstallationID = ev.GetRepo().GetFullName(), ev.GetAction(), installationID(ev.GetInstallation().GetID())
	if ev.GetAction() != "created" {
		return ignored("comment " + ev.GetAction() + ": only new comments are commands"), nil
	}
	if ev.GetSender().GetType() == "Bot" || ev.GetComment().GetUser().GetType() == "Bot" {
		return ignored("comment by a bot"), nil
	}
	cmd, ok := command.Parse(ev.GetComment().GetBody())
	if !ok {
		return ignored("not a /build command"), nil
	}
	if d.InstallationID == nil {
		return store.Intent{}, fmt.Errorf("issue_comment event without an installation")
	}
	specPath, err := cfg.specPath(ctx, d.InstallationID)
	if err != nil {
		return store.Intent{}, err
	}
	return store.Intent{Outcome: store.OutcomeDeferred, Reason: "/build " + cmd.Name + ": waiting for the author's permission",
		Event: &store.EventJob{
			Kind: store.EventCommand, InstallationID: *d.InstallationID, Repo: d.Repo, Number: ev.GetIssue().GetNumber(),
			IsPullRequest: ev.GetIssue().IsPullRequest(), Action: ev.GetAction(), Actor: ev.GetSender().GetLogin(),
			Command: cmd.Name, Argument: cmd.Argument(), PRFlag: cmd.PR, CommentID: ev.GetComment().GetID(), SpecPath: specPath,
			DefaultBranch: ev.GetRepo().GetDefaultBranch(),
		}}, nil
}
