package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/linux-builder/linux-builder/internal/access"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

const (
	// pageSize is the runs list's page; scanPages bounds how many pages of
	// the store one list request reads looking for runs the viewer may see.
	pageSize  = 50
	scanPages = 4
	// tailLines is how much of the log a run page shows (the live tail
	// adds to it).
	tailLines = 500
)

// durationText is a step's or a run's duration as pages show it.
func durationText(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
}

var funcs = template.FuncMap{
	"bytes":    func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
	"duration": durationText,
	"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short":    run.ShortSHA,
	"lower":    strings.ToLower,
}

// listView is the runs list.
type listView struct {
	page
	Runs                    []store.Run
	Repo, Status, Trigger   string
	Statuses, Triggers      []string
	Next                    string // the next page's link ("" at the end)
	Filtered, ScanExhausted bool
}

var (
	statuses = []string{string(run.StatusPending), string(run.StatusInProgress), string(run.StatusSuccess), string(run.StatusFailed), string(run.StatusCancelled)}
	triggers = []string{string(run.TriggerPush), string(run.TriggerPullRequest), string(run.TriggerComment), string(run.TriggerAPI),
		string(run.TriggerCLI), string(run.TriggerRerun), string(run.TriggerSchedule)}
)

func (w *Web) runs(c *fiber.Ctx) error {
	v := w.Viewer(c)
	f, err := w.listFilter(c)
	if err != nil {
		return w.message(c, v, fiber.StatusBadRequest, "Bad filter", err.Error())
	}
	view := listView{page: w.page(v, c), Repo: f.Repo, Status: string(f.Status), Trigger: string(f.Trigger), Statuses: statuses, Triggers: triggers,
		Filtered: f.Repo != "" || f.Status != "" || f.Trigger != ""}
	// A repository's runs share its visibility: one the viewer may not
	// read lists as a repository without runs (no scan, no page link that
	// would tell its runs' ids or how many match).
	if f.Repo != "" {
		newest, err := w.cfg.Store.ListRunSummaries(c.UserContext(), store.RunFilter{Repo: f.Repo, Limit: 1})
		if err != nil {
			w.cfg.Logger.Error("web: list runs", "err", err)
			return w.message(c, v, fiber.StatusServiceUnavailable, "Runs unavailable", "The database did not answer. Try again.")
		}
		if len(newest) == 1 && !w.CanRead(c.UserContext(), v, &newest[0]) {
			return w.render(c, fiber.StatusOK, "runs.html", view)
		}
	}
	// Read pages of the store until a page of runs the viewer may see is
	// full, within scanPages reads: a viewer who sees few runs gets a
	// short page and a link to go on, never an unbounded scan. The link's
	// cursor is sealed (cursor.go): it may point past runs the viewer may
	// not read, whose ids it must not tell.
	last := int64(0)
	for range scanPages {
		rows, err := w.cfg.Store.ListRunSummaries(c.UserContext(), f)
		if err != nil {
			w.cfg.Logger.Error("web: list runs", "err", err)
			return w.message(c, v, fiber.StatusServiceUnavailable, "Runs unavailable", "The database did not answer. Try again.")
		}
		for i := range rows {
			last = rows[i].ID
			if w.CanRead(c.UserContext(), v, &rows[i]) {
				view.Runs = append(view.Runs, rows[i])
				if len(view.Runs) == pageSize {
					break
				}
			}
		}
		if len(rows) < f.Limit {
			last = 0 // the end
			break
		}
		if len(view.Runs) == pageSize {
			break
		}
		f.BeforeID = last
	}
	if last > 0 {
		q := url.Values{"before": {w.sealCursor(last)}}
		for k, val := range map[string]string{"repo": view.Repo, "status": view.Status, "trigger": view.Trigger} {
			if val != "" {
				q.Set(k, val)
			}
		}
		view.Next = "/runs?" + q.Encode()
	}
	return w.render(c, fiber.StatusOK, "runs.html", view)
}

// listFilter reads the list's query, refusing what is not a filter.
func (w *Web) listFilter(c *fiber.Ctx) (store.RunFilter, error) {
	f := store.RunFilter{Limit: pageSize, Repo: strings.TrimSpace(c.Query("repo"))}
	if len(f.Repo) > 200 {
		return f, errors.New("repo: at most 200 characters (owner/name)")
	}
	if s := c.Query("status"); s != "" {
		if !contains(statuses, s) {
			return f, fmt.Errorf("status %q: want one of %s", s, strings.Join(statuses, ", "))
		}
		f.Status = run.Status(s)
	}
	if t := c.Query("trigger"); t != "" {
		if !contains(triggers, t) {
			return f, fmt.Errorf("trigger %q: want one of %s", t, strings.Join(triggers, ", "))
		}
		f.Trigger = run.Trigger(t)
	}
	if b := c.Query("before"); b != "" {
		id, err := w.openCursor(b)
		if err != nil {
			return f, errors.New("before: not a page link of this server (or an old one); start again from the first page")
		}
		f.BeforeID = id
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runView is a run's page.
type runView struct {
	page
	Run       *store.Run
	Title     string
	Steps     []stepView
	Logs      []store.RunLog
	LastLogID int64
	// LastArtifactID is the newest artifact's id: the live stream
	// resumes after it and LastLogID.
	LastArtifactID int64
	Artifacts      []artifactView
	BootLogs       []artifactView
	Spec           []specLine
	Orphans        []spec.Diagnostic // diagnostics with no line in the source
	Live           bool
	EventsURL      string
	Links          []link
}

type stepView struct {
	State    string
	Title    string
	Status   string // a run.StepStatus
	Duration string
	// Note says why a step does not do what its title says (the boot
	// test of a run that asked for none).
	Note string
}

// noBootTestNote is the boot-test step's note on the page of a run that
// asked for no boot test (noBootTest).
const noBootTestNote = "skipped on request: the build asked for no boot test"

type artifactView struct {
	Name, Type, SHA256, URL string
	Size                    int64
}

type specLine struct {
	N     int
	Text  string
	Diags []spec.Diagnostic
}

type link struct{ Text, URL string }

func (w *Web) run(c *fiber.Ctx) error {
	v := w.Viewer(c)
	notFound := func() error {
		return w.message(c, v, fiber.StatusNotFound, "Run not found",
			"There is no such run, or you may not see it."+map[bool]string{true: "", false: " Signing in may help."}[v.SignedIn() || w.cfg.OAuth == nil])
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound()
	}
	ctx := c.UserContext()
	r, err := w.cfg.Store.Run(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			w.cfg.Logger.Error("web: read a run", "run", id, "err", err)
			return w.message(c, v, fiber.StatusServiceUnavailable, "Run unavailable", "The database did not answer. Try again.")
		}
		return notFound()
	}
	if !w.CanRead(ctx, v, r) {
		return notFound() // the same answer as no such run
	}
	view, err := w.runView(c, v, r)
	if err != nil {
		w.cfg.Logger.Error("web: read a run's parts", "run", id, "err", err)
		return w.message(c, v, fiber.StatusServiceUnavailable, "Run unavailable", "The database did not answer. Try again.")
	}
	return w.render(c, fiber.StatusOK, "run.html", view)
}

func (w *Web) runView(c *fiber.Ctx, v access.Viewer, r *store.Run) (*runView, error) {
	ctx := c.UserContext()
	steps, err := w.cfg.Store.Steps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	logs, err := w.cfg.Store.LastLogs(ctx, r.ID, tailLines)
	if err != nil {
		return nil, err
	}
	arts, err := w.cfg.Store.Artifacts(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	view := &runView{page: w.page(v, c), Run: r, Title: runTitle(r), Logs: logs, Live: !r.Status.Terminal(), EventsURL: w.cfg.EventsURL(r.ID),
		Steps: stepViews(r, steps), Links: w.links(r)}
	if len(logs) > 0 {
		view.LastLogID = logs[len(logs)-1].ID
	}
	for _, a := range arts {
		view.LastArtifactID = max(view.LastArtifactID, a.ID)
		av := artifactView{Name: a.Name, Type: string(a.Type), SHA256: a.SHA256, Size: a.Size}
		if a.Key != "" {
			av.URL = w.cfg.ArtifactURL(r.ID, a.Name)
		}
		if a.Type == run.ArtifactBootLog {
			view.BootLogs = append(view.BootLogs, av)
		} else {
			view.Artifacts = append(view.Artifacts, av)
		}
	}
	view.Spec, view.Orphans = specLines(r)
	return view, nil
}

func runTitle(r *store.Run) string {
	switch {
	case r.Repo != "" && r.Repo != "local":
		return fmt.Sprintf("Run %d · %s", r.ID, r.Repo)
	default:
		return fmt.Sprintf("Run %d", r.ID)
	}
}

// stepViews is the checklist: every step a run passes, with what the
// store recorded of it.
func stepViews(r *store.Run, steps []store.RunStep) []stepView {
	got := map[run.State]store.RunStep{}
	for _, s := range steps {
		got[s.Step] = s
	}
	var out []stepView
	for _, st := range run.Steps {
		sv := stepView{State: string(st), Title: st.Title(), Status: string(run.StepPending)}
		if s, ok := got[st]; ok {
			sv.Status = string(s.Status)
			if s.FinishedAt != nil {
				sv.Duration = durationText(s.DurationMS)
			}
		} else if r.Status.Terminal() {
			sv.Status = string(run.StepSkipped)
		}
		if st == run.BootTesting && r.NoBootTest {
			sv.Note = noBootTestNote
		}
		out = append(out, sv)
	}
	return out
}

// links are the run's places on GitHub.
func (w *Web) links(r *store.Run) []link {
	if r.InstallationID == nil || r.Repo == "" {
		return nil
	}
	base := w.cfg.GitHubURL + "/" + r.Repo
	var out []link
	if r.HeadSHA != "" {
		out = append(out, link{"commit " + run.ShortSHA(r.HeadSHA), base + "/commit/" + url.PathEscape(r.HeadSHA)})
	}
	if r.Number != nil {
		if run.IsPullRef(r.Ref) || r.Trigger == run.TriggerPullRequest {
			out = append(out, link{fmt.Sprintf("pull request #%d", *r.Number), fmt.Sprintf("%s/pull/%d", base, *r.Number)})
		} else {
			out = append(out, link{fmt.Sprintf("issue #%d", *r.Number), fmt.Sprintf("%s/issues/%d", base, *r.Number)})
		}
	}
	if r.CheckRunID != nil {
		out = append(out, link{"check run", fmt.Sprintf("%s/runs/%d", base, *r.CheckRunID)})
	}
	if r.ReleaseURL != "" && strings.HasPrefix(r.ReleaseURL, w.cfg.GitHubURL+"/") {
		out = append(out, link{"release", r.ReleaseURL})
	}
	if r.SpecPRURL != "" && strings.HasPrefix(r.SpecPRURL, w.cfg.GitHubURL+"/") {
		out = append(out, link{"spec pull request", r.SpecPRURL})
	}
	return out
}

// maxSpecLines bounds the spec shown with its diagnostics.
const maxSpecLines = 2000

// specLines is the spec as written, with each diagnostic under its line;
// diagnostics without a line in it come back apart.
func specLines(r *store.Run) ([]specLine, []spec.Diagnostic) {
	var diags spec.Diagnostics
	if r.Diagnostics != "" {
		// Written by the pipeline; a row it cannot read shows no diagnostics.
		_ = json.Unmarshal([]byte(r.Diagnostics), &diags)
	}
	src := strings.Split(strings.TrimRight(r.SpecSource, "\n"), "\n")
	if r.SpecSource == "" {
		src = nil
	}
	if len(src) > maxSpecLines {
		src = src[:maxSpecLines]
	}
	lines := make([]specLine, len(src))
	for i, s := range src {
		lines[i] = specLine{N: i + 1, Text: s}
	}
	var orphans []spec.Diagnostic
	for _, d := range diags {
		if d.Pos.Line >= 1 && d.Pos.Line <= len(lines) {
			lines[d.Pos.Line-1].Diags = append(lines[d.Pos.Line-1].Diags, d)
		} else {
			orphans = append(orphans, d)
		}
	}
	return lines, orphans
}
