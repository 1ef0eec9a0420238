package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Check run action identifiers, as the webhook expects them back (at most
// 20 characters).
const (
	actionCancel  = "cancel"
	actionRebuild = "rebuild"
)

// annotationBatch is the most annotations GitHub takes in one request.
const annotationBatch = 50

// maxAnnotations is the most annotations a check run gets: one request's
// worth. A spec with more problems (a hostile one can have thousands)
// gets an "N more" line in the summary instead of thousands of requests.
const maxAnnotations = annotationBatch

// maxAnnotationMessage is GitHub's limit on an annotation's message (64 KB).
const maxAnnotationMessage = 64 << 10

// lockChecks namespaces the per-run lock of check run syncs.
const lockChecks int32 = 0x4c42 // "LB"

// Checks makes a run's check run on GitHub show the run as the store has
// it: one check run per run on its head commit (external_id = run id),
// created queued at intake, then updated at each step and at most every
// few seconds for log progress, with the spec's diagnostics as annotations
// and Cancel/Rebuild buttons. It is a reconciler: each Sync reads the
// run's current state and makes GitHub match it, so a sync that is retried
// or comes late is never wrong, and one run is synced by one worker at a
// time (a cluster-wide lock).
type Checks struct {
	App     *App
	DB      *store.DB
	Reports *render.Reporter
	// Name is the check run's name; default "Linux build".
	Name string
	// PublicURL, when set, makes details_url <PublicURL>/runs/<id>.
	PublicURL string
	Logger    *slog.Logger
}

// ErrBusy is returned by Sync when another worker is syncing the run (it
// is the store's lock error): the job tries again in a moment.
var ErrBusy = store.ErrLocked

func (c *Checks) name() string {
	if c.Name == "" {
		return "Linux build"
	}
	return c.Name
}

// Sync makes the check run of run id match the store. Runs that did not
// come from GitHub have none. state is set for a change of state (not mere
// log progress): the status comment of a comment-triggered run is edited
// then. lastAttempt records a failure as the run's report error instead
// of returning it.
func (c *Checks) Sync(ctx context.Context, id int64, state, lastAttempt bool) error {
	unlock, err := c.DB.TryLock(ctx, lockChecks, id)
	if errors.Is(err, store.ErrLocked) {
		return ErrBusy
	}
	if err != nil {
		return err
	}
	defer unlock()
	err = c.sync(ctx, id, state)
	if err == nil {
		err = c.syncSuperseded(ctx, id)
	}
	if err != nil && lastAttempt {
		msg := "the check run could not be updated: " + err.Error()
		if rerr := c.DB.RecordReport(context.WithoutCancel(ctx), id, store.ReportUpdate{ReportError: &msg}); rerr != nil {
			return errors.Join(err, rerr)
		}
		c.log().ErrorContext(ctx, "giving up on the check run", "run_id", id, "err", err)
		return nil
	}
	return err
}

// syncSuperseded ends the check runs of the runs that run id superseded:
// intake leaves that to the superseding run's syncs. When another worker
// is syncing one of them (it may have read it before it was superseded)
// the whole sync is tried again in a moment.
func (c *Checks) syncSuperseded(ctx context.Context, id int64) error {
	ids, err := c.DB.SupersededBy(ctx, id)
	if err != nil {
		return err
	}
	for _, old := range ids {
		if err := c.Sync(ctx, old, true, false); err != nil {
			return fmt.Errorf("check run of superseded run %d: %w", old, err)
		}
	}
	return nil
}

func (c *Checks) log() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Checks) sync(ctx context.Context, id int64, state bool) error {
	run, err := c.DB.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a run coalesced into another at intake: never kept
	}
	if err != nil {
		return err
	}
	if run.InstallationID == nil || run.HeadSHA == "" {
		return nil
	}
	if run.ReportedFinal {
		return nil
	}
	rep, err := Report(ctx, c.DB, run, c.PublicURL)
	if err != nil {
		return err
	}
	var diags spec.Diagnostics
	if err := json.Unmarshal([]byte(run.Diagnostics), &diags); err != nil {
		return fmt.Errorf("run %d diagnostics: %w", id, err)
	}
	annotations := annotationsOf(run.SpecPath, diags)
	if len(annotations) > maxAnnotations {
		rep.MoreAnnotations = len(annotations) - maxAnnotations
		annotations = annotations[:maxAnnotations]
	}
	title := c.Reports.Title(rep)
	summary, err := c.Reports.Summary(rep)
	if err != nil {
		return err
	}
	text, err := c.Reports.Text(rep)
	if err != nil {
		return err
	}
	sent := min(run.AnnotationsSent, len(annotations))
	next := func() []*gh.CheckRunAnnotation {
		batch := annotations[sent:min(sent+annotationBatch, len(annotations))]
		return batch
	}
	output := func(batch []*gh.CheckRunAnnotation) *gh.CheckRunOutput {
		o := &gh.CheckRunOutput{Title: gh.String(title), Summary: gh.String(summary), Annotations: batch}
		if text != "\n" && text != "" {
			o.Text = gh.String(text)
		}
		return o
	}
	status, conclusion := "queued", rep.Conclusion()
	var completedAt *gh.Timestamp
	switch {
	case conclusion != "":
		status = "completed"
		completedAt = &gh.Timestamp{Time: run.UpdatedAt}
	case run.Status == store.StatusInProgress:
		status = "in_progress"
	}
	actions := []*gh.CheckRunAction{{Label: "Cancel", Description: "Stop this build", Identifier: actionCancel}}
	if conclusion != "" {
		actions = []*gh.CheckRunAction{{Label: "Rebuild", Description: "Build this commit again", Identifier: actionRebuild}}
	}
	var details *string
	if c.PublicURL != "" {
		details = gh.String(rep.DetailsURL)
	}
	external := strconv.FormatInt(run.ID, 10)
	checkID, htmlURL, updated := int64(0), "", false
	if run.CheckRunID != nil {
		checkID = *run.CheckRunID
	} else {
		// A create that failed after GitHub made the check run (a 5xx, a
		// crash) must not make a second one: look for it first.
		found, err := c.App.FindCheckRun(ctx, *run.InstallationID, run.Repo, run.HeadSHA, c.name(), external)
		if err != nil {
			return err
		}
		if found != nil {
			checkID, htmlURL = found.GetID(), found.GetHTMLURL()
		} else {
			batch := next()
			opts := gh.CreateCheckRunOptions{Name: c.name(), HeadSHA: run.HeadSHA, ExternalID: gh.String(external), DetailsURL: details,
				Status: gh.String(status), Output: output(batch), Actions: actions}
			if status != "queued" {
				opts.StartedAt = &gh.Timestamp{Time: run.CreatedAt}
			}
			if conclusion != "" {
				opts.Conclusion, opts.CompletedAt = gh.String(conclusion), completedAt
			}
			cr, err := c.App.CreateCheckRun(ctx, *run.InstallationID, run.Repo, opts)
			if err != nil {
				return err
			}
			checkID, htmlURL = cr.GetID(), cr.GetHTMLURL()
			sent += len(batch)
			if err := c.DB.RecordReport(ctx, id, store.ReportUpdate{CheckRunID: &checkID, AnnotationsSent: &sent}); err != nil {
				return err
			}
			updated = len(annotations) == sent
		}
		if err := c.DB.RecordReport(ctx, id, store.ReportUpdate{CheckRunID: &checkID}); err != nil {
			return err
		}
	}
	// Updates: the state, then the remaining annotations 50 at a time
	// (GitHub appends them). The conclusion goes with the last request.
	for !updated {
		batch := next()
		opts := gh.UpdateCheckRunOptions{Name: c.name(), ExternalID: gh.String(external), DetailsURL: details, Status: gh.String(status),
			Output: output(batch), Actions: actions}
		if conclusion != "" {
			opts.Conclusion, opts.CompletedAt = gh.String(conclusion), completedAt
		}
		cr, err := c.App.UpdateCheckRun(ctx, *run.InstallationID, run.Repo, checkID, opts)
		if err != nil {
			return err
		}
		htmlURL = cr.GetHTMLURL()
		if len(batch) > 0 {
			sent += len(batch)
			if err := c.DB.RecordReport(ctx, id, store.ReportUpdate{AnnotationsSent: &sent}); err != nil {
				return err
			}
		}
		if sent >= len(annotations) {
			break
		}
	}
	if run.CommentID != nil && (state || conclusion != "") {
		// The run's status comment, edited in place: status, then links.
		rep.CheckURL = htmlURL
		body, err := c.Reports.Comment(rep)
		if err != nil {
			return err
		}
		if err := c.App.EditComment(ctx, *run.InstallationID, run.Repo, *run.CommentID, body); err != nil {
			return err
		}
	}
	if conclusion != "" && run.SourceComment != nil {
		reaction := "rocket"
		if conclusion == "failure" || conclusion == "cancelled" {
			reaction = "confused"
		}
		if err := c.App.React(ctx, *run.InstallationID, run.Repo, *run.SourceComment, reaction); err != nil {
			return err
		}
	}
	return c.finish(ctx, run, conclusion)
}

// finish records that GitHub shows the run's conclusion — unless the
// release was published while this sync ran (its links are not shown
// yet: the sync the publisher queued must not find the run final).
func (c *Checks) finish(ctx context.Context, run *store.Run, conclusion string) error {
	if conclusion == "" {
		return nil
	}
	return c.DB.MarkReportedFinal(ctx, run.ID, run.ReleaseURL)
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
		a := &gh.CheckRunAnnotation{Path: gh.String(path), StartLine: gh.Int(line), EndLine: gh.Int(line),
			AnnotationLevel: gh.String(level), Message: gh.String(render.Truncate(msg, maxAnnotationMessage, "… (truncated)")),
			Title: gh.String(render.Truncate(title, 255, "…"))}
		if d.Pos.Column > 0 {
			a.StartColumn, a.EndColumn = gh.Int(d.Pos.Column), gh.Int(d.Pos.Column)
		}
		out = append(out, a)
	}
	return out
}

// Report reads what users see of run from the store.
func Report(ctx context.Context, db *store.DB, run *store.Run, publicURL string) (*render.RunReport, error) {
	steps, err := db.Steps(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	arts, err := db.Artifacts(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	r := &render.RunReport{RunID: run.ID, Status: string(run.Status), Repo: run.Repo, HeadSHA: run.HeadSHA, SpecPath: run.SpecPath,
		RequestedBy: run.RequestedBy, FailureReason: run.FailureReason, PartialReason: run.PartialReason, Warnings: run.Warnings,
		ReleaseURL: run.ReleaseURL, ReleaseDraft: run.ReleaseDraft}
	if run.Prompt != "" {
		r.Prompt, r.GeneratedSpec, r.SpecPRURL = run.Prompt, run.SpecSource, run.SpecPRURL
	}
	if run.Status == store.StatusSuccess {
		r.FailureReason = "" // a successful run's reason is its warnings, listed apart
	}
	if publicURL != "" {
		r.DetailsURL = fmt.Sprintf("%s/runs/%d", publicURL, run.ID)
	}
	if run.Status.Terminal() {
		r.Duration = time.Duration(run.BuildDuration) * time.Millisecond
	}
	byName := map[string]store.RunStep{}
	for _, s := range steps {
		byName[s.Step] = s
	}
	failedStep := ""
	for _, s := range render.Steps {
		sr := render.StepReport{Name: s.Name, Label: s.Label, State: "pending"}
		if st, ok := byName[s.Name]; ok {
			switch st.Status {
			case store.StepDone:
				sr.State = "done"
			case store.StepRunning:
				sr.State = "running"
			case store.StepFailed:
				sr.State, failedStep = "failed", s.Name
				r.LogStep = s.Label
			case store.StepCancelled:
				sr.State = "cancelled"
			case store.StepSkipped:
				sr.State = "skipped"
			}
			if st.FinishedAt != nil {
				sr.Duration = render.FormatDuration(time.Duration(st.DurationMS) * time.Millisecond)
			}
		} else if run.Status.Terminal() {
			sr.State = "skipped"
		}
		r.Steps = append(r.Steps, sr)
	}
	if failedStep != "" {
		lines, err := db.LogTail(ctx, run.ID, failedStep, 40)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			r.LogTail = append(r.LogTail, l.Message)
		}
	}
	for _, a := range arts {
		if a.Type == store.ArtifactDockerImageRef {
			continue
		}
		r.Downloads = append(r.Downloads, render.Download{Name: a.Name, Size: a.Size, SHA256: a.SHA256, URL: a.URL})
	}
	return r, nil
}

// FindCheckRun returns the check run named name with external id
// externalID on commit sha, or nil.
func (a *App) FindCheckRun(ctx context.Context, installationID int64, repo, sha, name, externalID string) (*gh.CheckRun, error) {
	c, owner, rname, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.ListCheckRunsOptions{CheckName: gh.String(name), Filter: gh.String("all"), AppID: gh.Int64(a.cfg.AppID),
		ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		res, resp, err := c.Checks.ListCheckRunsForRef(ctx, owner, rname, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("list check runs of %s@%s: %w", repo, sha, err)
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() == externalID {
				return cr, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, nil
}

// CreateCheckRun creates a check run.
func (a *App) CreateCheckRun(ctx context.Context, installationID int64, repo string, opts gh.CreateCheckRunOptions) (*gh.CheckRun, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	cr, _, err := c.Checks.CreateCheckRun(ctx, owner, name, opts)
	if err != nil {
		return nil, fmt.Errorf("create check run on %s@%s: %w", repo, opts.HeadSHA, err)
	}
	return cr, nil
}

// UpdateCheckRun updates check run id.
func (a *App) UpdateCheckRun(ctx context.Context, installationID int64, repo string, id int64, opts gh.UpdateCheckRunOptions) (*gh.CheckRun, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	cr, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, id, opts)
	if err != nil {
		return nil, fmt.Errorf("update check run %d on %s: %w", id, repo, err)
	}
	return cr, nil
}
