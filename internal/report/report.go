package report

import (
	"context"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/store"
)

// logTailLines is how many lines of the failing step's log a report shows.
const logTailLines = 40

// Report reads what users see of run from the store.
func Report(ctx context.Context, db RunReader, run *store.Run, publicURL string) (*render.RunReport, error) {
	steps, err := db.Steps(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	arts, err := db.Artifacts(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	r, failedStep := reportOf(run, steps, arts, publicURL)
	if failedStep != "" {
		lines, err := db.LogTail(ctx, run.ID, failedStep, logTailLines)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			r.LogTail = append(r.LogTail, l.Message)
		}
	}
	return r, nil
}

// reportOf is the report of run with its steps and artifacts, and the
// name of the step that failed (whose log tail the report shows), if
// one did. It is pure.
func reportOf(run *store.Run, steps []store.RunStep, arts []store.Artifact, publicURL string) (*render.RunReport, string) {
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
	failedStep := ""
	r.Steps, failedStep = checklist(run, steps)
	for _, s := range r.Steps {
		if s.Name == failedStep {
			r.LogStep = s.Label
		}
	}
	if run.PartialReason != "" {
		markSoftFailure(r.Steps, hasISO(arts))
	}
	for _, a := range arts {
		if a.Type == store.ArtifactDockerImageRef {
			continue
		}
		r.Downloads = append(r.Downloads, render.Download{Name: a.Name, Size: a.Size, SHA256: a.SHA256, URL: a.URL})
	}
	return r, failedStep
}

// stepStates are the checklist states of the store's step statuses.
var stepStates = map[store.StepStatus]string{
	store.StepDone: "done", store.StepRunning: "running", store.StepFailed: "failed",
	store.StepCancelled: "cancelled", store.StepSkipped: "skipped",
}

// checklist is the pipeline's steps as run went through them, and the
// step that failed ("" when none did). A step never entered is pending,
// or skipped once the run has ended.
func checklist(run *store.Run, steps []store.RunStep) ([]render.StepReport, string) {
	byName := map[string]store.RunStep{}
	for _, s := range steps {
		byName[s.Step] = s
	}
	var out []render.StepReport
	failedStep := ""
	for _, s := range render.Steps {
		sr := render.StepReport{Name: s.Name, Label: s.Label, State: "pending"}
		if st, ok := byName[s.Name]; ok {
			if state, known := stepStates[st.Status]; known {
				sr.State = state
			}
			if st.Status == store.StepFailed {
				failedStep = s.Name
			}
			if st.FinishedAt != nil {
				sr.Duration = render.FormatDuration(time.Duration(st.DurationMS) * time.Millisecond)
			}
		} else if run.Status.Terminal() {
			sr.State = "skipped"
		}
		out = append(out, sr)
	}
	return out, failedStep
}

// markSoftFailure shows which step of a run that ends with the image only
// (a partial result) did not succeed. The pipeline goes on from a soft
// failure, so the store has the failing step as done: without an ISO the
// ISO step failed and the boot test was skipped; with one, the boot test
// failed (or could not run).
func markSoftFailure(steps []render.StepReport, iso bool) {
	for i, s := range steps {
		switch {
		case s.Name == stepISO && !iso && s.State == "done":
			steps[i].State = "failed"
		case s.Name == stepBoot && !iso && (s.State == "done" || s.State == "pending"):
			steps[i].State = "skipped"
		case s.Name == stepBoot && iso && s.State == "done":
			steps[i].State = "failed"
		}
	}
}

// The checklist steps a partial result concerns.
const (
	stepISO  = string(pipeline.ISOGenerating)
	stepBoot = string(pipeline.BootTesting)
)

func hasISO(arts []store.Artifact) bool {
	for _, a := range arts {
		if a.Type == store.ArtifactISO {
			return true
		}
	}
	return false
}
