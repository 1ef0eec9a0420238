package report

import (
	"context"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// apply makes GitHub show plan p: the check run (found or created, then
// updated), the status comment and the reaction, recording the check
// run's id and the annotations sent as it goes; then marks the run final
// when it has ended.
func (c *Checks) apply(ctx context.Context, p CheckRunPlan) error {
	htmlURL, err := c.applyCheckRun(ctx, &p)
	if err != nil {
		return err
	}
	if p.CommentID != 0 {
		// The run's status comment, edited in place: status, then links.
		p.Comment.CheckURL = htmlURL
		body, err := c.Reports.Comment(p.Comment)
		if err != nil {
			return err
		}
		if err := c.GitHub.EditComment(ctx, p.InstallationID, p.Repo, p.CommentID, body); err != nil {
			return err
		}
	}
	if p.Reaction != "" {
		if err := c.GitHub.React(ctx, p.InstallationID, p.Repo, p.SourceComment, p.Reaction); err != nil {
			return err
		}
	}
	return c.finish(ctx, p)
}

// applyCheckRun creates or updates the check run and returns its URL.
// Updates carry the state, then the remaining annotations 50 at a time
// (GitHub appends them); the conclusion goes with the last request.
func (c *Checks) applyCheckRun(ctx context.Context, p *CheckRunPlan) (string, error) {
	if p.CheckRunID == 0 {
		complete, url, err := c.createCheckRun(ctx, p)
		if err != nil || complete {
			return url, err
		}
	}
	for {
		batch := p.nextBatch()
		opts := gh.UpdateCheckRunOptions{Name: p.Name, ExternalID: gh.Ptr(p.ExternalID), DetailsURL: optional(p.DetailsURL),
			Status: gh.Ptr(p.Status), Output: p.output(batch), Actions: p.Actions}
		if p.Conclusion != "" {
			opts.Conclusion, opts.CompletedAt = gh.Ptr(p.Conclusion), &gh.Timestamp{Time: p.CompletedAt}
		}
		cr, err := c.GitHub.UpdateCheckRun(ctx, p.InstallationID, p.Repo, p.CheckRunID, opts)
		if err != nil {
			return "", err
		}
		if len(batch) > 0 {
			p.Sent += len(batch)
			if err := c.Store.RecordReport(ctx, p.RunID, store.ReportUpdate{AnnotationsSent: &p.Sent}); err != nil {
				return "", err
			}
		}
		if p.Sent >= len(p.Annotations) {
			return cr.GetHTMLURL(), nil
		}
	}
}

// createCheckRun finds the run's check run or creates it, recording its
// id. A create that failed after GitHub made the check run (a 5xx, a
// crash) must not make a second one: it is looked for first. complete
// reports that the create sent everything (no update is needed).
func (c *Checks) createCheckRun(ctx context.Context, p *CheckRunPlan) (complete bool, htmlURL string, err error) {
	found, err := c.GitHub.FindCheckRun(ctx, p.InstallationID, p.Repo, p.HeadSHA, p.Name, p.ExternalID)
	if err != nil {
		return false, "", err
	}
	if found != nil {
		p.CheckRunID, htmlURL = found.GetID(), found.GetHTMLURL()
	} else {
		batch := p.nextBatch()
		opts := gh.CreateCheckRunOptions{Name: p.Name, HeadSHA: p.HeadSHA, ExternalID: gh.Ptr(p.ExternalID), DetailsURL: optional(p.DetailsURL),
			Status: gh.Ptr(p.Status), Output: p.output(batch), Actions: p.Actions}
		if !p.StartedAt.IsZero() {
			opts.StartedAt = &gh.Timestamp{Time: p.StartedAt}
		}
		if p.Conclusion != "" {
			opts.Conclusion, opts.CompletedAt = gh.Ptr(p.Conclusion), &gh.Timestamp{Time: p.CompletedAt}
		}
		cr, err := c.GitHub.CreateCheckRun(ctx, p.InstallationID, p.Repo, opts)
		if err != nil {
			return false, "", err
		}
		p.CheckRunID, htmlURL = cr.GetID(), cr.GetHTMLURL()
		p.Sent += len(batch)
		if err := c.Store.RecordReport(ctx, p.RunID, store.ReportUpdate{CheckRunID: &p.CheckRunID, AnnotationsSent: &p.Sent}); err != nil {
			return false, "", err
		}
		complete = len(p.Annotations) == p.Sent
	}
	if err := c.Store.RecordReport(ctx, p.RunID, store.ReportUpdate{CheckRunID: &p.CheckRunID}); err != nil {
		return false, "", err
	}
	return complete, htmlURL, nil
}

// nextBatch is the next annotations to send.
func (p *CheckRunPlan) nextBatch() []*gh.CheckRunAnnotation {
	return p.Annotations[p.Sent:min(p.Sent+annotationBatch, len(p.Annotations))]
}

// output is the check run's output with batch of its annotations.
func (p *CheckRunPlan) output(batch []*gh.CheckRunAnnotation) *gh.CheckRunOutput {
	return &gh.CheckRunOutput{Title: gh.Ptr(p.Title), Summary: gh.Ptr(p.Summary), Annotations: batch, Text: optional(p.Text)}
}

// optional is s, or nil when it is empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
