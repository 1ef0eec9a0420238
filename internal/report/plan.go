package report

import (
	"strconv"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// annotationBatch is the most annotations GitHub takes in one request.
const annotationBatch = 50

// maxAnnotations is the most annotations a check run gets: one request's
// worth. A spec with more problems (a hostile one can have thousands)
// gets an "N more" line in the summary instead of thousands of requests.
const maxAnnotations = annotationBatch

// maxAnnotationMessage is GitHub's limit on an annotation's message (64 KB).
const maxAnnotationMessage = 64 << 10

// Check run statuses.
const (
	statusQueued     = "queued"
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
)

// CheckRunPlan is what a run's check run should say, and what else a sync
// does on GitHub: everything but the REST calls and their recording.
type CheckRunPlan struct {
	RunID          int64
	InstallationID int64
	Repo, HeadSHA  string
	// CheckRunID is the check run GitHub made for the run; 0 when the
	// store has not recorded one (it is looked up, then created).
	CheckRunID int64
	Name       string
	ExternalID string
	DetailsURL string // "" for none
	// Status is queued, in_progress or completed; Conclusion is set when
	// completed (success, neutral, failure, cancelled).
	Status      string
	Conclusion  string
	StartedAt   time.Time // zero while queued
	CompletedAt time.Time // zero until completed
	Title       string
	Summary     string
	Text        string // "" for none
	// Annotations are the spec's diagnostics (at most maxAnnotations), of
	// which the first Sent were sent already.
	Annotations []*gh.CheckRunAnnotation
	Sent        int
	Actions     []*gh.CheckRunAction
	// CommentID is the status comment to edit (0: none), with the report
	// it shows once the check run's URL is known.
	CommentID int64
	Comment   *render.RunReport
	// Reaction is the reaction to add to SourceComment, the command that
	// started the run ("" for none).
	Reaction      string
	SourceComment int64
	// ReleaseURL is the release the check run shows; the run is final
	// only when the store still has the same.
	ReleaseURL string
}

// PlanInput is what a check run plan is made of.
type PlanInput struct {
	Run         *store.Run
	Report      *render.RunReport
	Diagnostics spec.Diagnostics
	Reports     *render.Reporter
	Name        string
	PublicURL   string
	// StateChanged: the sync is for a change of state, not log progress
	// (the status comment is edited only then, and at the end).
	StateChanged bool
}

// PlanCheckRun is what run's check run should say. It is pure: it reads
// no store and calls nobody (the templates render in memory). The run
// must have an installation and a head SHA.
func PlanCheckRun(in PlanInput) (CheckRunPlan, error) {
	rn, rep := in.Run, in.Report
	p := CheckRunPlan{RunID: rn.ID, InstallationID: *rn.InstallationID, Repo: rn.Repo, HeadSHA: rn.HeadSHA, Name: in.Name,
		ExternalID: strconv.FormatInt(rn.ID, 10), ReleaseURL: rn.ReleaseURL}
	if rn.CheckRunID != nil {
		p.CheckRunID = *rn.CheckRunID
	}
	p.Annotations = annotationsOf(rn.SpecPath, in.Diagnostics)
	if len(p.Annotations) > maxAnnotations {
		rep.MoreAnnotations = len(p.Annotations) - maxAnnotations
		p.Annotations = p.Annotations[:maxAnnotations]
	}
	p.Sent = min(rn.AnnotationsSent, len(p.Annotations))
	if err := p.render(in.Reports, rep); err != nil {
		return CheckRunPlan{}, err
	}
	p.noteRetry(rn)
	p.Status, p.Conclusion = statusQueued, rep.Conclusion()
	switch {
	case p.Conclusion != "":
		p.Status, p.CompletedAt = statusCompleted, rn.UpdatedAt
	case rn.Status == run.StatusInProgress:
		p.Status = statusInProgress
	}
	if p.Status != statusQueued {
		p.StartedAt = rn.CreatedAt
	}
	p.Actions = []*gh.CheckRunAction{{Label: "Cancel", Description: "Stop this build", Identifier: run.ActionCancel}}
	if p.Conclusion != "" {
		p.Actions = []*gh.CheckRunAction{{Label: "Rebuild", Description: "Build this commit again", Identifier: run.ActionRebuild}}
	}
	if in.PublicURL != "" {
		p.DetailsURL = rep.DetailsURL
	}
	if rn.CommentID != nil && (in.StateChanged || p.Conclusion != "") {
		p.CommentID, p.Comment = *rn.CommentID, rep
	}
	if p.Conclusion != "" && rn.SourceComment != nil {
		p.SourceComment, p.Reaction = *rn.SourceComment, "rocket"
		if p.Conclusion == "failure" || p.Conclusion == "cancelled" {
			p.Reaction = "confused"
		}
	}
	return p, nil
}

// render fills in the check run's title, summary and text.
func (p *CheckRunPlan) render(reports *render.Reporter, rep *render.RunReport) error {
	p.Title = reports.Title(rep)
	summary, err := reports.Summary(rep)
	if err != nil {
		return err
	}
	text, err := reports.Text(rep)
	if err != nil {
		return err
	}
	p.Summary = summary
	if text != "\n" {
		p.Text = text
	}
	return nil
}

// noteRetry says, on the check run of a run that is being built again
// (its worker stopped or was lost), why: a queued run is "queued for a
// retry", and the summary opens with the reason. A run that has ended says
// nothing of it.
func (p *CheckRunPlan) noteRetry(rn *store.Run) {
	if rn.RetryReason == "" || rn.Status.Terminal() {
		return
	}
	if rn.Status == run.StatusPending {
		p.Title = render.Truncate("Queued for a retry: "+rn.RetryReason, render.MaxTitle, "…")
	}
	p.Summary = render.Truncate("**Retrying:** "+rn.RetryReason+"\n\n"+p.Summary, render.MaxSummary, "\n\n… (truncated)")
}

// annotationsOf turns the spec's diagnostics into annotations on path.
func annotationsOf(path string, diags spec.Diagnostics) []*gh.CheckRunAnnotation {
	out := make([]*gh.CheckRunAnnotation, 0, len(diags))
	for _, d := range diags {
		level := "warning"
		if d.Severity == spec.SeverityError {
			level = "failure"
		}
		line := max(d.Pos.Line, 1)
		msg := d.Message
		if d.Hint != "" {
			msg += " (" + d.Hint + ")"
		}
		title := d.Path
		if title == "" {
			title = string(d.Code)
		}
		a := &gh.CheckRunAnnotation{Path: gh.Ptr(path), StartLine: gh.Ptr(line), EndLine: gh.Ptr(line),
			AnnotationLevel: gh.Ptr(level), Message: gh.Ptr(render.Truncate(msg, maxAnnotationMessage, "… (truncated)")),
			Title: gh.Ptr(render.Truncate(title, 255, "…"))}
		if d.Pos.Column > 0 {
			a.StartColumn, a.EndColumn = gh.Ptr(d.Pos.Column), gh.Ptr(d.Pos.Column)
		}
		out = append(out, a)
	}
	return out
}
