package render

import (
	"fmt"
	"io/fs"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/linux-builder/linux-builder/internal/run"
)

// RunReport is what users see of a run on GitHub: the check run's title,
// summary and text, and the reply comment of comment-triggered runs.
type RunReport struct {
	RunID         int64
	Status        run.Status
	Repo, HeadSHA string
	SpecPath      string
	RequestedBy   string
	Steps         []StepReport
	FailureReason string
	PartialReason string
	Warnings      []string
	Downloads     []Download
	ReleaseURL    string
	// ReleaseDraft: the release is a draft (a pull request from a fork),
	// seen only by people with push access to the repository.
	ReleaseDraft bool
	DetailsURL   string
	CheckURL     string
	Duration     time.Duration
	// Prompt and GeneratedSpec are set for specs generated from a
	// description.
	Prompt        string
	GeneratedSpec string
	SpecPRURL     string
	// LogTail is the last lines of LogStep's log (a failed run's failing
	// step).
	LogStep string
	LogTail []string
	// MoreAnnotations is how many of the spec's problems the check run
	// does not annotate (it annotates the first 50).
	MoreAnnotations int
}

// StepReport is one step of the checklist.
type StepReport struct {
	Name     run.State // the step, e.g. run.Building
	Label    string    // its title (run.State.Title)
	State    run.StepStatus
	Duration string
}

// Download is one published file.
type Download struct {
	Name   string
	Size   int64
	SHA256 string
	URL    string
}

// GitHub's limits for check run output.
const (
	MaxSummary = 65535
	MaxTitle   = 255
	truncated  = "\n\n… (truncated)"
)

// Reporter renders run reports from templates/report.
type Reporter struct{ tmpl *template.Template }

// NewReporter parses the report templates from fsys (linuxbuilder.Templates).
func NewReporter(fsys fs.FS) (*Reporter, error) {
	funcs := template.FuncMap{
		"short":    run.ShortSHA,
		"size":     HumanSize,
		"stepMark": stepMark,
		"headline": Headline,
		"quote":    Quote,
		"code":     Code,
		"fence":    Fence,
		"logLine":  logLine,
		"login":    Login,
		"endLine":  endLine,
		"htmlText": HTMLText,
	}
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").ParseFS(fsys, "templates/report/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse report templates: %w", err)
	}
	return &Reporter{tmpl: t}, nil
}

// Conclusion is the check run conclusion of a run in status; "" while it
// runs. A successful run with the image only is neutral.
func (r *RunReport) Conclusion() string {
	switch r.Status {
	case run.StatusSuccess:
		if r.PartialReason != "" {
			return "neutral"
		}
		return "success"
	case run.StatusFailed:
		return "failure"
	case run.StatusCancelled:
		return "cancelled"
	}
	return ""
}

// Cancelled reports whether the run was cancelled (for the templates).
func (r *RunReport) Cancelled() bool { return r.Status == run.StatusCancelled }

// Headline is one line saying where the run is.
func Headline(r *RunReport) string {
	switch r.Status {
	case run.StatusPending:
		return "Queued"
	case run.StatusInProgress:
		for i, s := range r.Steps {
			if s.State == run.StepRunning {
				return fmt.Sprintf("%s (step %d of %d)", s.Label, i+1, len(r.Steps))
			}
		}
		return "Running"
	case run.StatusSuccess:
		if r.PartialReason != "" {
			return "Built the image" + took(r.Duration) + "; no boot-tested ISO"
		}
		return "Built and boot-tested" + took(r.Duration)
	case run.StatusFailed:
		// The last failed step is the one that stopped the run (an ISO
		// step that failed before is an image-only run's soft failure).
		for i := len(r.Steps) - 1; i >= 0; i-- {
			if r.Steps[i].State == run.StepFailed {
				return "Failed: " + lowerFirst(r.Steps[i].Label)
			}
		}
		return "Failed"
	case run.StatusCancelled:
		return "Cancelled"
	}
	return string(r.Status)
}

func took(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return " in " + FormatDuration(d)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// Title is the check run's title (at most 255 characters).
func (rp *Reporter) Title(r *RunReport) string { return Truncate(Headline(r), MaxTitle, "…") }

// Summary is the check run's summary: the step checklist, the failure,
// warnings and downloads (at most 65,535 characters).
func (rp *Reporter) Summary(r *RunReport) (string, error) { return rp.exec("summary", r, MaxSummary) }

// Text is the check run's text: the log tail of the failing step.
func (rp *Reporter) Text(r *RunReport) (string, error) { return rp.exec("text", r, MaxSummary) }

// Comment is the reply comment of a comment-triggered run.
func (rp *Reporter) Comment(r *RunReport) (string, error) { return rp.exec("comment", r, MaxSummary) }

func (rp *Reporter) exec(name string, r *RunReport, limit int) (string, error) {
	var b strings.Builder
	if err := rp.tmpl.ExecuteTemplate(&b, name, r); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return Truncate(strings.TrimSpace(b.String())+"\n", limit, truncated), nil
}

// Truncate cuts s to at most limit characters (runes, as GitHub counts),
// ending with marker when it was cut.
func Truncate(s string, limit int, marker string) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	keep := limit - utf8.RuneCountInString(marker)
	if keep < 0 {
		keep = 0
	}
	i, n := 0, 0
	for i < len(s) && n < keep {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + marker
}

func stepMark(state run.StepStatus) string {
	switch state {
	case run.StepDone:
		return "✓"
	case run.StepRunning:
		return "●"
	case run.StepFailed:
		return "✗"
	case run.StepCancelled:
		return "⊘"
	}
	return "○"
}

// FormatDuration is a short human duration: 850ms, 42s, 3m07s, 1h02m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// HumanSize is n bytes in binary units: 512 B, 1.5 KiB, 301.0 MiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ReleaseNotes is what a run's GitHub release says.
type ReleaseNotes struct {
	RunID    int64
	Link     string
	SpecPath string
	HeadSHA  string
	Trigger  string
	Facts    []struct{ K, V string }
	Warnings []string
	Files    []Download
	// Split names the files published in parts.
	Split []string
	// Draft: the release is a draft because the build came from a pull
	// request from a fork.
	Draft bool
	// Updates are the package updates a scheduled rebuild was started
	// for (at most MaxListedUpdates; MoreUpdates counts the rest).
	Updates     []PackageUpdate
	MoreUpdates int
}

// Has reports whether the release has a file named name (the notes say
// how to use the disk images only when there are some).
func (r ReleaseNotes) Has(name string) bool {
	for _, f := range r.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

// PackageUpdate is a package a scheduled rebuild was started for: the
// version the last build had and the one the distribution published.
type PackageUpdate struct{ Name, Old, New string }

// MaxListedUpdates bounds the updates a release lists.
const MaxListedUpdates = 200

// Release is the body of a run's release (at most 125,000 characters, as
// GitHub allows).
func (rp *Reporter) Release(n *ReleaseNotes) (string, error) {
	var b strings.Builder
	if err := rp.tmpl.ExecuteTemplate(&b, "release", n); err != nil {
		return "", fmt.Errorf("render release: %w", err)
	}
	return Truncate(strings.TrimSpace(b.String())+"\n", 125000, truncated), nil
}
