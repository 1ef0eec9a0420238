package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/run"
)

// steps is the checklist of an ISO-only run (no disk image step: the
// report leaves out the steps of outputs the spec does not ask for).
func steps(states ...run.StepStatus) []StepReport {
	var out []StepReport
	durations := []string{"1s", "2s", "1m22s", "8s", "1m14s", "3s"}
	for _, s := range run.Steps {
		if s == run.DiskGenerating {
			continue
		}
		i := len(out)
		out = append(out, StepReport{Name: s, Label: s.Title(), State: run.StepPending})
		if i < len(states) {
			out[i].State = states[i]
			if states[i] == "done" || states[i] == "failed" || states[i] == "cancelled" {
				out[i].Duration = durations[i]
			}
		}
	}
	return out
}

var downloads = []Download{
	{Name: "linux.iso", Size: 512 << 20, SHA256: strings.Repeat("a", 64), URL: "https://github.com/o/r/releases/download/linux-build%2F6113728-7/linux.iso"},
	{Name: "image.tar.zst", Size: 301 << 20, SHA256: strings.Repeat("b", 64), URL: "https://github.com/o/r/releases/download/linux-build%2F6113728-7/image.tar.zst"},
	{Name: "SHA256SUMS", Size: 300, SHA256: strings.Repeat("c", 64), URL: "https://github.com/o/r/releases/download/linux-build%2F6113728-7/SHA256SUMS"},
}

func reports() map[string]*RunReport {
	base := func() *RunReport {
		return &RunReport{RunID: 7, Repo: "o/r", HeadSHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", SpecPath: "linux-build.yaml", RequestedBy: "octocat"}
	}
	m := map[string]*RunReport{}
	r := base()
	r.Status, r.Steps = "PENDING", steps()
	m["queued"] = r
	r = base()
	r.Status, r.Steps = "IN_PROGRESS", steps("done", "done", "running")
	r.Warnings = []string{"linux-build.yaml:9:5: warning: packages.install[2]: dnscrypt-proxy is not packaged for debian; DNS over TLS uses systemd-resolved"}
	m["running"] = r
	r = base()
	r.Status, r.Steps, r.Duration = "SUCCESS", steps("done", "done", "done", "done", "done", "done"), 171*time.Second
	r.Downloads, r.ReleaseURL = downloads, "https://github.com/o/r/releases/tag/linux-build%2F6113728-7"
	r.DetailsURL = "https://builder.example/runs/7"
	m["success"] = r
	r = base()
	r.Status, r.Steps, r.Duration = "SUCCESS", steps("done", "done", "done", "done", "done", "done"), 171*time.Second
	r.Downloads = downloads[1:]
	r.PartialReason = "the ISO did not boot (uefi)"
	r.Warnings = []string{"boot test (uefi) failed: no marker within 300s"}
	m["partial-unpublished"] = r
	r = base()
	r.Status, r.Steps = "FAILED", steps("failed", "skipped", "skipped", "skipped", "skipped", "skipped")
	r.FailureReason = `the spec has 2 error(s): linux-build.yaml:3:7: error: base: unknown value "debain"; did you mean "debian"?`
	r.LogStep, r.LogTail = "Validate the spec", []string{`linux-build.yaml:3:7: error: base: unknown value "debain"; did you mean "debian"?`, `linux-build.yaml:12:3: error: securityFeatures.mac: AppArmor and SELinux cannot both be enabled`}
	m["failed-spec"] = r
	r = base()
	r.Status, r.Steps = "FAILED", steps("done", "done", "failed", "skipped", "skipped", "skipped")
	r.FailureReason = "docker build failed: E: Unable to locate package nope"
	r.LogStep, r.LogTail = "Build the image", []string{"Step 4/9 : RUN apt-get install -y nope", "Reading package lists...", "E: Unable to locate package nope"}
	m["failed-build"] = r
	r = base()
	r.Status, r.Steps = "IN_PROGRESS", steps("done", "done", "running")
	r.Prompt = "a minimal debian with zsh"
	r.GeneratedSpec = "name: zsh box\nbase: debian\ncustomization:\n  shell: zsh\n"
	r.CheckURL = "https://github.com/o/r/runs/42"
	r.SpecPRURL = "https://github.com/o/r/pull/12"
	m["prompt-running"] = r
	r = base()
	r.Status, r.Steps = "CANCELLED", steps("done", "done", "cancelled", "skipped", "skipped", "skipped")
	r.FailureReason = "superseded by run 8"
	m["cancelled"] = r
	return m
}

// The rendered summaries of every state, as users will see them, are
// golden files under testdata/golden/report (go test -update rewrites them).
func TestReportGoldens(t *testing.T) {
	rp, err := NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range reports() {
		t.Run(name, func(t *testing.T) {
			summary, err := rp.Summary(r)
			if err != nil {
				t.Fatal(err)
			}
			text, err := rp.Text(r)
			if err != nil {
				t.Fatal(err)
			}
			comment, err := rp.Comment(r)
			if err != nil {
				t.Fatal(err)
			}
			got := "# title\n" + rp.Title(r) + "\n# conclusion\n" + r.Conclusion() + "\n# summary\n" + summary + "# text\n" + text + "# comment\n" + comment
			path := filepath.Join("testdata", "golden", "report", name+".md")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Fatalf("%s differs from the golden file:\n%s", name, got)
			}
		})
	}
}

func TestReportIsTruncatedToGitHubLimits(t *testing.T) {
	rp, err := NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	r := reports()["failed-build"]
	long := strings.Repeat("é", 70000)
	r.FailureReason = long
	// Each quoted text and log line is cut (2,000 and 1,000 characters):
	// many of them still exceed the limit.
	r.Warnings, r.LogTail = nil, nil
	for range 100 {
		r.Warnings = append(r.Warnings, long)
		r.LogTail = append(r.LogTail, long)
	}
	for name, f := range map[string]func(*RunReport) (string, error){"summary": rp.Summary, "text": rp.Text} {
		s, err := f(r)
		if err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(s); n > MaxSummary || !strings.HasSuffix(s, "… (truncated)") || !utf8.ValidString(s) {
			t.Fatalf("%s: %d characters, ends %q", name, n, s[len(s)-30:])
		}
	}
	r.Steps[2].Label = long
	if n := utf8.RuneCountInString(rp.Title(r)); n > MaxTitle {
		t.Fatalf("title of %d characters", n)
	}
	if FormatDuration(3725*time.Second) != "1h02m" || FormatDuration(187*time.Second) != "3m07s" || FormatDuration(850*time.Millisecond) != "850ms" {
		t.Fatal("durations")
	}
}
