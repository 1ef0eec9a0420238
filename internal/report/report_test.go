package report

import (
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/store"
)

// partialRun is a run whose steps up to and including the named ones
// were entered (and are done, as the pipeline leaves a step it goes on
// from), in status.
func partialRun(status store.RunStatus, reason string, entered ...string) (*store.Run, []store.RunStep) {
	run, _ := planRun(status, 0)
	run.PartialReason = reason
	var steps []store.RunStep
	for _, name := range entered {
		steps = append(steps, store.RunStep{RunID: run.ID, Step: name, Status: store.StepDone, StartedAt: planCreated})
	}
	if status == store.StatusInProgress {
		steps[len(steps)-1].Status = store.StepRunning
	}
	if status == store.StatusFailed {
		steps[len(steps)-1].Status = store.StepFailed
	}
	return run, steps
}

var isoArtifact = []store.Artifact{{Name: "linux.iso", Type: store.ArtifactISO, Size: 1 << 20, SHA256: strings.Repeat("a", 64)}}

// The checklist says which step of an image-only run did not succeed: a
// failed ISO shows the ISO step failed and the boot test skipped; an ISO
// that did not boot shows the boot test failed — never ✓ (the pipeline
// leaves a step it goes on from as done).
func TestChecklistOfPartialRuns(t *testing.T) {
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"VALIDATING", "GENERATING", "BUILDING", "ISO_GENERATING", "BOOT_TESTING"}
	noBoot := []string{"VALIDATING", "GENERATING", "BUILDING", "ISO_GENERATING"}
	cases := []struct {
		name      string
		status    store.RunStatus
		reason    string
		entered   []string
		arts      []store.Artifact
		iso, boot string // the states of the ISO step and the boot test
		headline  string
		summary   []string
	}{
		{name: "booted", status: store.StatusSuccess, entered: all, arts: isoArtifact, iso: "done", boot: "done",
			headline: "Built and boot-tested", summary: []string{"- ✓ Make the bootable ISO", "- ✓ Boot-test the ISO (BIOS and UEFI)"}},
		{name: "the ISO did not boot", status: store.StatusSuccess, reason: "the ISO did not boot (uefi)", entered: all, arts: isoArtifact,
			iso: "done", boot: "failed", headline: "Built the image; no boot-tested ISO",
			summary: []string{"- ✓ Make the bootable ISO", "- ✗ Boot-test the ISO (BIOS and UEFI)"}},
		{name: "ISO generation failed", status: store.StatusSuccess, reason: "ISO generation failed: no space left on device", entered: noBoot,
			iso: "failed", boot: "skipped", headline: "Built the image; no boot-tested ISO",
			summary: []string{"- ✗ Make the bootable ISO", "- ○ Boot-test the ISO (BIOS and UEFI) (skipped)"}},
		{name: "the ISO did not boot, then the run was cancelled", status: store.StatusCancelled, reason: "the ISO did not boot (bios)",
			entered: all, arts: isoArtifact, iso: "done", boot: "failed", headline: "Cancelled",
			summary: []string{"- ✓ Make the bootable ISO", "- ✗ Boot-test the ISO (BIOS and UEFI)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, steps := partialRun(tc.status, tc.reason, tc.entered...)
			rep, failed := reportOf(run, steps, tc.arts, "")
			states := map[string]string{}
			for _, s := range rep.Steps {
				states[s.Name] = s.State
			}
			if states["ISO_GENERATING"] != tc.iso || states["BOOT_TESTING"] != tc.boot {
				t.Errorf("ISO step %s, boot test %s; want %s, %s", states["ISO_GENERATING"], states["BOOT_TESTING"], tc.iso, tc.boot)
			}
			if got := render.Headline(rep); !strings.HasPrefix(got, tc.headline) {
				t.Errorf("headline %q, want %q", got, tc.headline)
			}
			if failed != "" {
				t.Errorf("the log tail is of step %q: no step of a run that ended failed", failed)
			}
			summary, err := reports.Summary(rep)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.summary {
				if !strings.Contains(summary, s+"\n") {
					t.Errorf("summary lacks %q:\n%s", s, summary)
				}
			}
		})
	}
}
