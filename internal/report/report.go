package report

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// logTailLines is how many lines of the failing step's log a report shows.
const logTailLines = 40

// Report reads what users see of run from the store.
func Report(ctx context.Context, db RunReader, rn *store.Run, publicURL string) (*render.RunReport, error) {
	steps, err := db.Steps(ctx, rn.ID)
	if err != nil {
		return nil, err
	}
	arts, err := db.Artifacts(ctx, rn.ID)
	if err != nil {
		return nil, err
	}
	r, failedStep := reportOf(rn, steps, arts, publicURL)
	if failedStep != "" {
		lines, err := db.LogTail(ctx, rn.ID, failedStep, logTailLines)
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
func reportOf(rn *store.Run, steps []store.RunStep, arts []store.Artifact, publicURL string) (*render.RunReport, run.State) {
	r := &render.RunReport{RunID: rn.ID, Status: rn.Status, Repo: rn.Repo, HeadSHA: rn.HeadSHA, SpecPath: rn.SpecPath,
		RequestedBy: rn.RequestedBy, FailureReason: rn.FailureReason, PartialReason: rn.PartialReason, Warnings: rn.Warnings,
		ReleaseURL: rn.ReleaseURL, ReleaseDraft: rn.ReleaseDraft}
	if rn.Prompt != "" {
		r.Prompt, r.GeneratedSpec, r.SpecPRURL = rn.Prompt, rn.SpecSource, rn.SpecPRURL
	}
	if rn.Status == run.StatusSuccess {
		r.FailureReason = "" // a successful run's reason is its warnings, listed apart
	}
	if publicURL != "" {
		r.DetailsURL = fmt.Sprintf("%s/runs/%d", publicURL, rn.ID)
	}
	if rn.Status.Terminal() {
		r.Duration = time.Duration(rn.BuildDuration) * time.Millisecond
	}
	var failedStep run.State
	outputs := outputSteps(rn)
	r.Steps, failedStep = checklist(rn, steps, outputs)
	for _, s := range r.Steps {
		if s.Name == failedStep {
			r.LogStep = s.Label
		}
	}
	if rn.PartialReason != "" {
		markSoftFailure(r.Steps, isoMade(steps, arts, outputs), hasType(arts, run.ArtifactDisk))
	}
	for _, a := range arts {
		if a.Type == run.ArtifactImageRef {
			continue
		}
		r.Downloads = append(r.Downloads, render.Download{Name: a.Name, Size: a.Size, SHA256: a.SHA256, URL: a.URL})
	}
	return r, failedStep
}

// outputSteps tells whether the run's spec asks for the ISO and for a
// disk image (from its resolved spec; before validation, the default:
// the ISO alone).
func outputSteps(rn *store.Run) (shown map[run.State]bool) {
	var s struct {
		Outputs []string `json:"outputs"`
	}
	shown = map[run.State]bool{run.ISOGenerating: true}
	if rn.Spec == "" || json.Unmarshal([]byte(rn.Spec), &s) != nil || len(s.Outputs) == 0 {
		return shown
	}
	shown[run.ISOGenerating] = false
	for _, o := range s.Outputs {
		if o == "iso" {
			shown[run.ISOGenerating] = true
		} else {
			shown[run.DiskGenerating] = true
		}
	}
	return shown
}

// checklist is the pipeline's steps as run went through them, and the
// step that failed ("" when none did). A step never entered is pending,
// or skipped once the run has ended. The step of an output the spec does
// not ask for (outputs, by step) is left out unless the run entered it.
func checklist(rn *store.Run, steps []store.RunStep, outputs map[run.State]bool) ([]render.StepReport, run.State) {
	byName := map[run.State]store.RunStep{}
	for _, s := range steps {
		byName[s.Step] = s
	}
	var out []render.StepReport
	var failedStep run.State
	for _, s := range run.Steps {
		sr := render.StepReport{Name: s, Label: s.Title(), State: run.StepPending}
		st, ok := byName[s]
		if (s == run.ISOGenerating || s == run.DiskGenerating) && !outputs[s] && !ok {
			continue
		}
		if ok {
			sr.State = st.Status
			if st.Status == run.StepFailed {
				failedStep = s
			}
			if st.FinishedAt != nil {
				sr.Duration = render.FormatDuration(time.Duration(st.DurationMS) * time.Millisecond)
			}
		} else if rn.Status.Terminal() {
			sr.State = run.StepSkipped
		}
		out = append(out, sr)
	}
	return out, failedStep
}

// markSoftFailure shows which step of a run that ends partial did not
// succeed. The pipeline goes on from a soft failure, so the store has the
// failing step as done: an ISO step that ran without an ISO failed (and
// the boot test was skipped); a disk step that ran without a disk image
// failed (the ISO was still booted); otherwise the boot test failed (or
// could not run).
func markSoftFailure(steps []render.StepReport, iso, disk bool) {
	isoFailed, diskFailed := false, false
	for i, s := range steps {
		switch s.Name {
		case run.ISOGenerating:
			if !iso && s.State == run.StepDone {
				steps[i].State, isoFailed = run.StepFailed, true
			}
		case run.DiskGenerating:
			if !disk && s.State == run.StepDone {
				steps[i].State, diskFailed = run.StepFailed, true
			}
		case run.BootTesting:
			switch {
			case isoFailed && (s.State == run.StepDone || s.State == run.StepPending):
				steps[i].State = run.StepSkipped
			case !isoFailed && !diskFailed && s.State == run.StepDone:
				steps[i].State = run.StepFailed
			}
		}
	}
}

// isoMade reports whether the run's ISO step made its ISO: the ISO
// artifact, or, for a spec that does not publish the ISO (the ISO is made
// only to install its disk image from), the disk step entered (a failed
// ISO ends the run before it).
func isoMade(steps []store.RunStep, arts []store.Artifact, outputs map[run.State]bool) bool {
	if hasType(arts, run.ArtifactISO) {
		return true
	}
	if outputs[run.ISOGenerating] {
		return false
	}
	for _, s := range steps {
		if s.Step == run.DiskGenerating {
			return true
		}
	}
	return false
}

func hasType(arts []store.Artifact, t run.ArtifactType) bool {
	for _, a := range arts {
		if a.Type == t {
			return true
		}
	}
	return false
}
