package report

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

const checkSHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

// The store and the client are what cmd/bot wires into the reporters.
var (
	_ CheckStore    = (*store.DB)(nil)
	_ ReleaseStore  = (*store.DB)(nil)
	_ CheckGitHub   = (*github.App)(nil)
	_ ReleaseGitHub = (*github.App)(nil)
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// fixture is an App on a fake GitHub (retrying server errors after a
// millisecond), the report templates and a store.
func fixture(t testing.TB) (*github.App, *render.Reporter, *githubtest.Server, *store.DB) {
	t.Helper()
	fake := githubtest.New(t)
	app, err := github.NewApp(github.Config{AppID: 1, PrivateKey: testKey(t), APIURL: fake.APIURL(), UploadURL: fake.UploadsURL(),
		RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	return app, reports, fake, storetest.SQLite(t, nil)
}

func newChecks(t *testing.T) (*Checks, *githubtest.Server, *store.DB) {
	t.Helper()
	app, reports, fake, db := fixture(t)
	return &Checks{GitHub: app, Store: db, Reports: reports, PublicURL: "https://builder.example"}, fake, db
}

func githubRun(t *testing.T, db *store.DB) *store.Run {
	t.Helper()
	inst := int64(7)
	r := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA,
		SpecPath: "linux-build.yaml", RequestedBy: "octocat"}
	if err := db.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func onlyCheckRun(t *testing.T, fake *githubtest.Server) githubtest.CheckRun {
	t.Helper()
	crs := fake.CheckRuns()
	if len(crs) != 1 {
		t.Fatalf("%d check runs, want 1", len(crs))
	}
	return crs[0]
}

// The check run follows the run: queued at intake, in progress with the
// running step, then its conclusion, with Cancel then Rebuild buttons.
func TestCheckRunFollowsTheRun(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	rn := githubRun(t, db)
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr := onlyCheckRun(t, fake)
	if cr.Status != "queued" || cr.Name != "Linux build" || cr.ExternalID != fmt.Sprint(rn.ID) || cr.HeadSHA != checkSHA ||
		cr.Title != "Queued" || cr.DetailsURL != fmt.Sprintf("https://builder.example/runs/%d", rn.ID) || cr.Actions[0]["identifier"] != "cancel" {
		t.Fatalf("queued check run %+v", cr)
	}
	for _, step := range []run.State{run.Validating, run.Generating, run.Building} {
		if err := db.EnterStep(ctx, rn.ID, step); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr = onlyCheckRun(t, fake)
	if cr.Status != "in_progress" || !strings.Contains(cr.Summary, "- ● Build the image") || !strings.Contains(cr.Summary, "- ✓ Validate the spec") ||
		cr.Title != "Build the image (step 3 of 5)" {
		t.Fatalf("running check run %q\n%s", cr.Title, cr.Summary)
	}
	for _, step := range []run.State{run.ISOGenerating, run.BootTesting} {
		if err := db.EnterStep(ctx, rn.ID, step); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: "/x/linux.iso", Size: 1 << 20, SHA256: strings.Repeat("a", 64)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr = onlyCheckRun(t, fake)
	if cr.Status != "completed" || cr.Conclusion != "success" || cr.CompletedAt == "" || cr.Actions[0]["identifier"] != "rebuild" ||
		!strings.Contains(cr.Summary, "| linux.iso | 1.0 MiB |") {
		t.Fatalf("completed check run %+v", cr)
	}
	writes := cr.Writes
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	if cr = onlyCheckRun(t, fake); cr.Writes != writes {
		t.Fatalf("a run reported final was written again (%d writes, was %d)", cr.Writes, writes)
	}
	// A run that did not come from GitHub has no check run.
	local := &store.Run{Trigger: run.TriggerCLI, Repo: "local"}
	if err := db.CreateRun(ctx, local); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, local.ID, run.SyncState); err != nil || len(fake.CheckRuns()) != 1 {
		t.Fatalf("local run: %v, %d check runs", err, len(fake.CheckRuns()))
	}
}

// Spec errors become annotations on the spec at their lines, the first 50
// only (one request; a hostile spec can have thousands) with an "N more"
// line, and the conclusion is failure; an image-only run is neutral.
func TestSpecErrorsBecomeAnnotations(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	rn := githubRun(t, db)
	var diags spec.Diagnostics
	for i := 1; i <= 120; i++ {
		sev := spec.SeverityError
		if i%3 == 0 {
			sev = spec.SeverityWarning
		}
		diags = append(diags, spec.Diagnostic{File: "linux-build.yaml", Pos: spec.Pos{Line: i, Column: 3}, Severity: sev,
			Code: "unknown-field", Path: fmt.Sprintf("packages.install[%d]", i), Message: fmt.Sprintf("problem %d", i)})
	}
	if err := (pipelinestore.Store{DB: db}).RecordDiagnostics(ctx, rn.ID, diags); err != nil {
		t.Fatal(err)
	}
	if err := db.EnterStep(ctx, rn.ID, run.Validating); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Failed, "the spec has 80 error(s)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr := onlyCheckRun(t, fake)
	if cr.Conclusion != "failure" || len(cr.Annotations) != 50 || cr.Writes != 1 || !strings.Contains(cr.Summary, "70 more problems") {
		t.Fatalf("conclusion %q, %d annotations in %d writes, summary:\n%s", cr.Conclusion, len(cr.Annotations), cr.Writes, cr.Summary)
	}
	for i, a := range cr.Annotations {
		want := "failure"
		if (i+1)%3 == 0 {
			want = "warning"
		}
		if a["path"] != "linux-build.yaml" || a["start_line"] != float64(i+1) || a["end_line"] != float64(i+1) ||
			a["start_column"] != float64(3) || a["annotation_level"] != want || a["message"] != fmt.Sprintf("problem %d", i+1) {
			t.Fatalf("annotation %d: %v", i, a)
		}
	}
	// The partial (image only) run is neutral.
	run2 := githubRun(t, db)
	if err := (pipelinestore.Store{DB: db}).MarkPartial(ctx, run2.ID, pipeline.Partial{Reason: "the ISO did not boot (uefi)", Failed: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, run2.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, run2.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	for _, cr := range fake.CheckRuns() {
		if cr.ExternalID == fmt.Sprint(run2.ID) && (cr.Conclusion != "neutral" || !strings.Contains(cr.Summary, "did not boot")) {
			t.Fatalf("partial run: %+v", cr)
		}
	}
}

// GitHub faults: a 429 with Retry-After on an update is waited out and the
// update lands once; a create that GitHub made but answered 502 is found
// again, not duplicated; a sync that never lands is recorded on its last
// attempt; another worker's sync makes this one wait.
func TestCheckRunFaults(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	rn := githubRun(t, db)
	create := &githubtest.Fault{Method: http.MethodPost, Path: "/repos/{owner}/{repo}/check-runs", Status: 502, Apply: true}
	fake.Inject(create)
	if err := c.Sync(ctx, rn.ID, run.SyncState); err == nil {
		t.Fatal("a 502 on create went unnoticed")
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr := onlyCheckRun(t, fake)
	if create.Hits() != 1 {
		t.Fatalf("create fault hit %d times", create.Hits())
	}
	if err := db.EnterStep(ctx, rn.ID, run.Validating); err != nil {
		t.Fatal(err)
	}
	limited := &githubtest.Fault{Method: http.MethodPatch, Path: "/repos/{owner}/{repo}/check-runs/{check_run_id}", Status: 429,
		Header: http.Header{"Retry-After": []string{"1"}}}
	fake.Inject(limited)
	start := time.Now()
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second || limited.Hits() != 1 {
		t.Fatalf("429: waited %s, hits %d", waited, limited.Hits())
	}
	after := onlyCheckRun(t, fake)
	if after.Writes != cr.Writes+1 || after.Status != "in_progress" {
		t.Fatalf("after the 429: %d writes (was %d), status %s", after.Writes, cr.Writes, after.Status)
	}
	// Down for good: the last attempt records what could not be reported.
	down := &githubtest.Fault{Method: http.MethodPatch, Path: "/repos/{owner}/{repo}/check-runs/{check_run_id}", Status: 503, Times: 100}
	fake.Inject(down)
	if err := c.Sync(ctx, rn.ID, run.SyncState); err == nil {
		t.Fatal("an outage went unnoticed")
	}
	if err := c.Sync(ctx, rn.ID, run.SyncFinal); err != nil {
		t.Fatalf("last attempt: %v", err)
	}
	got, _ := db.Run(ctx, rn.ID)
	if !strings.Contains(got.ReportError, "503") {
		t.Fatalf("report error %q", got.ReportError)
	}
	// Another worker holds the run.
	unlock, err := db.TryLock(ctx, lockChecks, rn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("locked: %v", err)
	}
	unlock()
}

// A real invalid spec: its errors are annotated at the lines and columns
// the validator reports.
func TestRealSpecErrorsAnnotatedAtTheirLines(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	src, err := os.ReadFile("../../testdata/specs/invalid/mac-conflict.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, diags := spec.Parse("linux-build.yaml", src)
	if !diags.HasErrors() {
		t.Fatal("the fixture has no errors")
	}
	rn := githubRun(t, db)
	if err := (pipelinestore.Store{DB: db}).RecordDiagnostics(ctx, rn.ID, diags); err != nil {
		t.Fatal(err)
	}
	if err := db.EnterStep(ctx, rn.ID, run.Validating); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Failed, "the spec has errors"); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr := onlyCheckRun(t, fake)
	if cr.Conclusion != "failure" || len(cr.Annotations) != len(diags) {
		t.Fatalf("conclusion %s, %d annotations for %d diagnostics", cr.Conclusion, len(cr.Annotations), len(diags))
	}
	for i, d := range diags {
		a := cr.Annotations[i]
		if a["start_line"] != float64(d.Pos.Line) || a["start_column"] != float64(d.Pos.Column) || !strings.Contains(a["message"].(string), d.Message) {
			t.Fatalf("annotation %v for %s", a, d)
		}
	}
	if cr.Annotations[0]["start_line"] != float64(12) {
		t.Fatalf("the MAC conflict is on line 12: %v", cr.Annotations[0])
	}
}

// A run superseded at intake gets its conclusion from the superseding
// run's sync.
func TestSupersededRunsEndWithTheNewerSync(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	old := githubRun(t, db)
	if err := c.Sync(ctx, old.ID, run.SyncState); err != nil { // queued on GitHub
		t.Fatal(err)
	}
	newer := githubRun(t, db)
	if _, err := db.SQL.ExecContext(ctx, "UPDATE runs SET status = 'CANCELLED', step = 'CANCELLED', superseded_by = ?, failure_reason = ? WHERE id = ?",
		newer.ID, fmt.Sprintf("superseded by run %d", newer.ID), old.ID); err != nil {
		t.Fatal(err)
	}
	unlock, err := db.TryLock(ctx, lockChecks, old.ID) // another worker holds the old run
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, newer.ID, run.SyncState); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("while the old run is held: %v", err)
	}
	unlock()
	if err := c.Sync(ctx, newer.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	for _, cr := range fake.CheckRuns() {
		if cr.ExternalID == fmt.Sprint(old.ID) && (cr.Conclusion != "cancelled" || !strings.Contains(cr.Summary, fmt.Sprintf("superseded by run %d", newer.ID))) {
			t.Fatalf("old check run %+v", cr)
		}
	}
	if len(fake.CheckRuns()) != 2 {
		t.Fatalf("%d check runs", len(fake.CheckRuns()))
	}
}

// A release published while the final sync runs is not lost: the run is
// not marked final, so the publisher's sync shows the links.
func TestReleaseDuringFinalSyncIsShown(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	rn := githubRun(t, db)
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: "/x/linux.iso", Size: 1, SHA256: "ab"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	// The final sync read the run without a release...
	before, _ := db.Run(ctx, rn.ID)
	// ...the publisher records the release meanwhile...
	url, notFinal := "https://github.com/octo/repo/releases/tag/x", false
	if err := db.RecordReport(ctx, rn.ID, store.ReportUpdate{ReleaseURL: &url, ReportedFinal: &notFinal}); err != nil {
		t.Fatal(err)
	}
	// ...and the sync ends.
	if err := c.finish(ctx, CheckRunPlan{RunID: before.ID, ReleaseURL: before.ReleaseURL, Conclusion: "success"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Run(ctx, rn.ID); got.ReportedFinal {
		t.Fatal("marked final although the release is not shown")
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Run(ctx, rn.ID); !got.ReportedFinal || !strings.Contains(onlyCheckRun(t, fake).Summary, url) {
		t.Fatalf("the release is not shown: %+v", onlyCheckRun(t, fake).Summary)
	}
}

// The check run of a run whose ISO did not boot shows the boot test
// failed, not ✓ (the pipeline leaves a step it goes on from as done).
func TestCheckRunOfAnISOThatDidNotBoot(t *testing.T) {
	c, fake, db := newChecks(t)
	ctx := context.Background()
	rn := githubRun(t, db)
	for _, step := range []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.BootTesting} {
		if err := db.EnterStep(ctx, rn.ID, step); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: "/x/linux.iso", Size: 1 << 20,
		SHA256: strings.Repeat("a", 64)}); err != nil {
		t.Fatal(err)
	}
	if err := (pipelinestore.Store{DB: db}).MarkPartial(ctx, rn.ID, pipeline.Partial{Reason: "the ISO did not boot (uefi)", Failed: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, rn.ID, run.SyncState); err != nil {
		t.Fatal(err)
	}
	cr := onlyCheckRun(t, fake)
	if cr.Conclusion != "neutral" || !strings.Contains(cr.Summary, "- ✗ Boot-test (BIOS and UEFI)") ||
		!strings.Contains(cr.Summary, "- ✓ Make the bootable ISO") {
		t.Fatalf("conclusion %s, summary:\n%s", cr.Conclusion, cr.Summary)
	}
}
