package report

import (
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// partialRun is a run whose steps up to and including the named ones
// were entered (and are done, as the pipeline leaves a step it goes on
// from), in status.
func partialRun(status run.Status, reason string, entered ...run.State) (*store.Run, []store.RunStep) {
	rn, _ := planRun(status, 0)
	rn.PartialReason = reason
	var steps []store.RunStep
	for _, name := range entered {
		steps = append(steps, store.RunStep{RunID: rn.ID, Step: name, Status: run.StepDone, StartedAt: planCreated})
	}
	if status == run.StatusInProgress {
		steps[len(steps)-1].Status = run.StepRunning
	}
	if status == run.StatusFailed {
		steps[len(steps)-1].Status = run.StepFailed
	}
	return rn, steps
}

var isoArtifact = []store.Artifact{{Name: "linux.iso", Type: run.ArtifactISO, Size: 1 << 20, SHA256: strings.Repeat("a", 64)}}

// The checklist says which step of an image-only run did not succeed: a
// failed ISO shows the ISO step failed and the boot test skipped; an ISO
// that did not boot shows the boot test failed — never ✓ (the pipeline
// leaves a step it goes on from as done).
func TestChecklistOfPartialRuns(t *testing.T) {
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	all := []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.BootTesting}
	noBoot := []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating}
	cases := []struct {
		name      string
		status    run.Status
		reason    string
		entered   []run.State
		arts      []store.Artifact
		iso, boot run.StepStatus // the states of the ISO step and the boot test
		headline  string
		summary   []string
	}{
		{name: "booted", status: run.StatusSuccess, entered: all, arts: isoArtifact, iso: "done", boot: "done",
			headline: "Built and boot-tested", summary: []string{"- ✓ Make the bootable ISO", "- ✓ Boot-test (BIOS and UEFI)"}},
		{name: "the ISO did not boot", status: run.StatusSuccess, reason: "the ISO did not boot (uefi)", entered: all, arts: isoArtifact,
			iso: "done", boot: "failed", headline: "Built the image; no boot-tested ISO",
			summary: []string{"- ✓ Make the bootable ISO", "- ✗ Boot-test (BIOS and UEFI)"}},
		{name: "ISO generation failed", status: run.StatusSuccess, reason: "ISO generation failed: no space left on device", entered: noBoot,
			iso: "failed", boot: "skipped", headline: "Built the image; no boot-tested ISO",
			summary: []string{"- ✗ Make the bootable ISO", "- ○ Boot-test (BIOS and UEFI) (skipped)"}},
		{name: "the ISO did not boot, then the run was cancelled", status: run.StatusCancelled, reason: "the ISO did not boot (bios)",
			entered: all, arts: isoArtifact, iso: "done", boot: "failed", headline: "Cancelled",
			summary: []string{"- ✓ Make the bootable ISO", "- ✗ Boot-test (BIOS and UEFI)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rn, steps := partialRun(tc.status, tc.reason, tc.entered...)
			rep, failed := reportOf(rn, steps, tc.arts, "")
			states := map[run.State]run.StepStatus{}
			for _, s := range rep.Steps {
				states[s.Name] = s.State
			}
			if states[run.ISOGenerating] != tc.iso || states[run.BootTesting] != tc.boot {
				t.Errorf("ISO step %s, boot test %s; want %s, %s", states[run.ISOGenerating], states[run.BootTesting], tc.iso, tc.boot)
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

// A spec whose disk image is installed from an ISO it does not publish
// (an xfs root, outputs: [qcow2]) has its ISO step shown as it went: done
// when the disk step was entered after it (there is no ISO artifact to
// tell), failed when the run ended there.
func TestChecklistOfAnISOMadeOnlyToInstallFrom(t *testing.T) {
	disk := []store.Artifact{{Name: "linux.qcow2", Type: run.ArtifactDisk, Size: 1 << 20, SHA256: strings.Repeat("b", 64)}}
	withDisk := []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting}
	cases := []struct {
		name            string
		reason          string
		entered         []run.State
		arts            []store.Artifact
		iso, disk, boot run.StepStatus
	}{
		{"the installed disk did not boot", "the disk image did not boot (bios)", withDisk, disk, "done", "done", "failed"},
		{"the ISO to install from failed", "ISO generation failed: no space left on device", withDisk[:4], nil, "failed", "skipped", "skipped"},
		{"the install failed", "disk image generation failed: disk: installing the system from the live ISO: linux-builder-install: error: …", withDisk, nil, "done", "failed", "done"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rn, steps := partialRun(run.StatusSuccess, tc.reason, tc.entered...)
			rn.Spec = `{"outputs":["qcow2"],"filesystem":{"root":"xfs"}}`
			rep, _ := reportOf(rn, steps, tc.arts, "")
			states := map[run.State]run.StepStatus{}
			for _, s := range rep.Steps {
				states[s.Name] = s.State
			}
			if states[run.ISOGenerating] != tc.iso || states[run.DiskGenerating] != tc.disk || states[run.BootTesting] != tc.boot {
				t.Errorf("ISO step %q, disk step %q, boot test %q; want %q, %q, %q", states[run.ISOGenerating], states[run.DiskGenerating], states[run.BootTesting], tc.iso, tc.disk, tc.boot)
			}
		})
	}
}
