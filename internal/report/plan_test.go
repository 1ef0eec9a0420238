package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

func ptr[T any](v T) *T { return &v }

var (
	planCreated = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	planUpdated = planCreated.Add(3 * time.Minute)
)

// planRun is a GitHub run in status at step, with the steps before it
// done.
func planRun(status run.Status, reached int) (*store.Run, []store.RunStep) {
	rn := &store.Run{ID: 7, Trigger: run.TriggerPush, InstallationID: ptr(int64(42)), Repo: "octo/repo", Ref: "refs/heads/main",
		HeadSHA: checkSHA, SpecPath: "linux-build.yaml", Status: status, CreatedAt: planCreated, UpdatedAt: planUpdated}
	var steps []store.RunStep
	var isoRun []run.State // an ISO-only run's steps: no disk images
	for _, s := range run.Steps {
		if s != run.DiskGenerating {
			isoRun = append(isoRun, s)
		}
	}
	for i, s := range isoRun[:reached] {
		st := store.RunStep{RunID: rn.ID, Step: s, Status: run.StepDone, StartedAt: planCreated}
		if i == reached-1 {
			switch status {
			case run.StatusInProgress:
				st.Status = run.StepRunning
			case run.StatusFailed:
				st.Status = run.StepFailed
			}
		}
		steps = append(steps, st)
	}
	return rn, steps
}

func diagnostics(n int) spec.Diagnostics {
	var out spec.Diagnostics
	for i := 1; i <= n; i++ {
		out = append(out, spec.Diagnostic{File: "linux-build.yaml", Pos: spec.Pos{Line: i}, Severity: spec.SeverityError,
			Code: "unknown-field", Message: fmt.Sprintf("problem %d", i)})
	}
	return out
}

// The plan says what the check run shows, with no store and no GitHub:
// status and conclusion, buttons, timestamps, annotations still to send,
// the status comment and the reaction.
func TestPlanCheckRun(t *testing.T) {
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		status, conclusion, title, action, reaction string
		started, completed                          time.Time
		annotations, sent                           int
		comment                                     bool
		summary                                     []string
	}
	cases := []struct {
		name   string
		status run.Status
		step   int // steps reached
		edit   func(*store.Run)
		diags  int
		public string
		state  bool
		want   want
	}{
		{name: "queued", status: run.StatusPending,
			want: want{status: "queued", title: "Queued", action: run.ActionCancel, summary: []string{"- ○ Validate the spec"}}},
		{name: "running, comment on a change of state", status: run.StatusInProgress, step: 3, state: true,
			edit: func(r *store.Run) { r.CommentID = ptr(int64(99)) },
			want: want{status: "in_progress", title: "Build the image (step 3 of 5)", action: run.ActionCancel, started: planCreated, comment: true,
				summary: []string{"- ✓ Validate the spec", "- ● Build the image"}}},
		{name: "running, no comment on log progress", status: run.StatusInProgress, step: 3,
			edit: func(r *store.Run) { r.CommentID = ptr(int64(99)) },
			want: want{status: "in_progress", title: "Build the image (step 3 of 5)", action: run.ActionCancel, started: planCreated}},
		{name: "failed spec: annotations, the first 50", status: run.StatusFailed, step: 1, diags: 120,
			edit: func(r *store.Run) { r.FailureReason, r.SourceComment = "the spec has 120 error(s)", ptr(int64(5)) },
			want: want{status: "completed", conclusion: "failure", title: "Failed: validate the spec", action: run.ActionRebuild, reaction: "confused",
				started: planCreated, completed: planUpdated, annotations: 50, summary: []string{"70 more problems", "- ✗ Validate the spec"}}},
		{name: "annotations sent before are not sent again", status: run.StatusFailed, step: 1, diags: 30,
			edit: func(r *store.Run) { r.AnnotationsSent = 20 },
			want: want{status: "completed", conclusion: "failure", title: "Failed: validate the spec", action: run.ActionRebuild,
				started: planCreated, completed: planUpdated, annotations: 30, sent: 20}},
		{name: "more sent than there are", status: run.StatusFailed, step: 1, diags: 3,
			edit: func(r *store.Run) { r.AnnotationsSent = 50 },
			want: want{status: "completed", conclusion: "failure", title: "Failed: validate the spec", action: run.ActionRebuild,
				started: planCreated, completed: planUpdated, annotations: 3, sent: 3}},
		{name: "success, comment and rocket at the end", status: run.StatusSuccess, step: 5, public: "https://builder.example",
			edit: func(r *store.Run) {
				r.CommentID, r.SourceComment, r.BuildDuration = ptr(int64(99)), ptr(int64(5)), 171000
			},
			want: want{status: "completed", conclusion: "success", title: "Built and boot-tested in 2m51s", action: run.ActionRebuild, reaction: "rocket",
				started: planCreated, completed: planUpdated, comment: true, summary: []string{"- ✓ Boot-test (BIOS and UEFI)", "[Full log](https://builder.example/runs/7)"}}},
		{name: "image only is neutral", status: run.StatusSuccess, step: 5,
			edit: func(r *store.Run) { r.PartialReason = "the ISO did not boot (uefi)" },
			want: want{status: "completed", conclusion: "neutral", title: "Built the image; no boot-tested ISO", action: run.ActionRebuild,
				started: planCreated, completed: planUpdated, summary: []string{"**Image only:** the ISO did not boot (uefi)"}}},
		{name: "interrupted by a worker's stop: queued for a retry", status: run.StatusPending,
			edit: func(r *store.Run) { r.RetryReason = run.ReasonInterrupted },
			want: want{status: "queued", title: "Queued for a retry: " + run.ReasonInterrupted, action: run.ActionCancel,
				summary: []string{"**Retrying:** " + run.ReasonInterrupted, "- ○ Validate the spec"}}},
		{name: "the Docker engine was lost: queued for a retry", status: run.StatusPending,
			edit: func(r *store.Run) { r.RetryReason = run.ReasonEngineLost },
			want: want{status: "queued", title: "Queued for a retry: retrying after the Docker engine was lost", action: run.ActionCancel,
				summary: []string{"**Retrying:** retrying after the Docker engine was lost", "- ○ Validate the spec"}}},
		{name: "rescued after a worker was lost: running again", status: run.StatusInProgress, step: 2,
			edit: func(r *store.Run) { r.RetryReason = run.ReasonWorkerLost },
			want: want{status: "in_progress", title: "Render the build context (step 2 of 5)", action: run.ActionCancel, started: planCreated,
				summary: []string{"**Retrying:** retrying after a worker was lost"}}},
		{name: "a retried run that ended does not say it", status: run.StatusSuccess, step: 5,
			edit: func(r *store.Run) { r.RetryReason, r.BuildDuration = run.ReasonWorkerLost, 171000 },
			want: want{status: "completed", conclusion: "success", title: "Built and boot-tested in 2m51s", action: run.ActionRebuild,
				started: planCreated, completed: planUpdated}},
		{name: "cancelled", status: run.StatusCancelled, step: 3,
			edit: func(r *store.Run) { r.FailureReason, r.SourceComment = "cancelled", ptr(int64(5)) },
			want: want{status: "completed", conclusion: "cancelled", title: "Cancelled", action: run.ActionRebuild, reaction: "confused",
				started: planCreated, completed: planUpdated, summary: []string{"**Cancelled:** cancelled"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, steps := planRun(tc.status, tc.step)
			if tc.edit != nil {
				tc.edit(run)
			}
			rep, _ := reportOf(run, steps, nil, tc.public)
			p, err := PlanCheckRun(PlanInput{Run: run, Report: rep, Diagnostics: diagnostics(tc.diags), Reports: reports, Name: "Linux build",
				PublicURL: tc.public, StateChanged: tc.state})
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if p.Status != w.status || p.Conclusion != w.conclusion || p.Title != w.title || p.Reaction != w.reaction {
				t.Errorf("status %q conclusion %q title %q reaction %q, want %q %q %q %q", p.Status, p.Conclusion, p.Title, p.Reaction,
					w.status, w.conclusion, w.title, w.reaction)
			}
			if len(p.Actions) != 1 || p.Actions[0].Identifier != w.action {
				t.Errorf("actions %+v, want %s", p.Actions, w.action)
			}
			if !p.StartedAt.Equal(w.started) || !p.CompletedAt.Equal(w.completed) {
				t.Errorf("started %v completed %v, want %v %v", p.StartedAt, p.CompletedAt, w.started, w.completed)
			}
			if len(p.Annotations) != w.annotations || p.Sent != w.sent {
				t.Errorf("%d annotations, %d sent; want %d, %d", len(p.Annotations), p.Sent, w.annotations, w.sent)
			}
			if (p.CommentID != 0) != w.comment || (p.Comment != nil) != w.comment {
				t.Errorf("comment %d %v, want %v", p.CommentID, p.Comment != nil, w.comment)
			}
			if p.ExternalID != "7" || p.InstallationID != 42 || p.HeadSHA != checkSHA || p.Name != "Linux build" {
				t.Errorf("identity %+v", p)
			}
			if (p.DetailsURL != "") != (tc.public != "") {
				t.Errorf("details URL %q with public URL %q", p.DetailsURL, tc.public)
			}
			for _, s := range w.summary {
				if !strings.Contains(p.Summary, s) {
					t.Errorf("summary lacks %q:\n%s", s, p.Summary)
				}
			}
			if run.Status.Terminal() && strings.Contains(p.Summary, "Retrying") {
				t.Errorf("an ended run's summary says it is retrying:\n%s", p.Summary)
			}
		})
	}
}
