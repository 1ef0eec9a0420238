package freshness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/freshness"
	"github.com/linux-builder/linux-builder/internal/mirror"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// archive is a fake Debian archive on loopback: its security suite
// publishes security (a Packages index), its updates suite nothing.
type archive struct {
	mu       sync.Mutex
	security string
	down     bool
	hits     atomic.Int64
	srv      *httptest.Server
}

func newArchive(t *testing.T, security string) *archive {
	a := &archive{security: security}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		a.mu.Lock()
		body, down := a.security, a.down
		a.mu.Unlock()
		switch {
		case down:
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case r.URL.Path == "/debian-security/dists/bookworm-security/main/binary-amd64/Packages":
			_, _ = w.Write([]byte(body))
		case r.URL.Path == "/debian/dists/bookworm-updates/main/binary-amd64/Packages":
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *archive) set(security string, down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.security, a.down = security, down
}

const (
	installed = "base-files\t12.4+deb12u5\tamd64\nlibc6\t2.36-9+deb12u4\tamd64\nopenssl\t3.0.15-1~deb12u1\tamd64\n"
	unchanged = "Package: libc6\nVersion: 2.36-9+deb12u4\n\nPackage: openssl\nVersion: 3.0.15-1~deb12u1\n"
	changed   = "Package: libc6\nVersion: 2.36-9+deb12u7\n\nPackage: openssl\nVersion: 3.0.15-1~deb12u1\n\nPackage: not-installed\nVersion: 9\n"
)

type fixture struct {
	db      *store.DB
	clock   *storetest.Clock
	archive *archive
	checker *freshness.Checker
	run     *store.Run // the successful build the schedule watches
}

// setup records a successful push build of the default branch, finished
// on Sunday 2026-11-29 at 10:00 UTC, whose spec is scheduled (weekly:
// Sundays at 04:00 UTC, so next due 2026-12-06 04:00) and whose manifest
// is installed.
func setup(t *testing.T, schedule, security string) *fixture {
	t.Helper()
	clock := &storetest.Clock{T: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	db := storetest.Postgres(t, clock)
	ctx := context.Background()
	inst := int64(7)
	if err := db.UpsertInstallation(ctx, &store.Installation{ID: inst, Account: "octo", Repositories: []string{"octo/repo"}}); err != nil {
		t.Fatal(err)
	}
	sp, _ := json.Marshal(map[string]string{"base": "debian", "release": "bookworm", "architecture": "x86_64", "schedule": schedule})
	r := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", DefaultBranch: "main",
		HeadSHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", SpecPath: "linux-build.yaml", Spec: string(sp), RequestedBy: "octocat"}
	if err := db.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "1")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dpkg.ManifestName)
	if err := os.WriteFile(path, []byte(installed), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: r.ID, Name: dpkg.ManifestName, Type: run.ArtifactManifest, Location: path}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, r.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a := newArchive(t, security)
	m := mirror.New(mirror.Config{Debian: a.srv.URL + "/debian", DebianSecurity: a.srv.URL + "/debian-security"})
	c := &freshness.Checker{Store: db, Mirror: m, Jobs: ins, Now: clock.Now, Logger: quiet}
	got, err := db.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, clock: clock, archive: a, checker: c, run: got}
}

// rebuilds returns the scheduled rebuilds recorded.
func (f *fixture) rebuilds(t *testing.T) []store.Run {
	t.Helper()
	runs, err := f.db.ListRuns(context.Background(), store.RunFilter{Repo: "octo/repo"})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Run
	for _, r := range runs {
		if r.Trigger == run.TriggerSchedule {
			out = append(out, r)
		}
	}
	return out
}

func TestDueAndChangedRebuildsOnce(t *testing.T) {
	f := setup(t, "weekly", changed)
	ctx := context.Background()
	f.clock.T = time.Date(2026, 12, 6, 4, 10, 0, 0, time.UTC) // due since 04:00
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	rbs := f.rebuilds(t)
	if len(rbs) != 1 {
		t.Fatalf("%d rebuilds, want 1", len(rbs))
	}
	rb := rbs[0]
	if rb.HeadSHA != f.run.HeadSHA || rb.Ref != f.run.Ref || !rb.NoCache || rb.JobID == nil || rb.DefaultBranch != "main" ||
		rb.RequestedBy != freshness.RequestedBy || rb.Status != run.StatusPending {
		t.Fatalf("rebuild %+v", rb)
	}
	ups, _, err := dpkg.ReadUpdates(rb.PackageUpdates)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || ups[0] != (dpkg.Update{Name: "libc6", Old: "2.36-9+deb12u4", New: "2.36-9+deb12u7"}) {
		t.Fatalf("updates %+v", ups)
	}
	// Checked again a minute later: not due, no request, no second run.
	hits := f.archive.hits.Load()
	f.clock.Advance(time.Minute)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.rebuilds(t)) != 1 || f.archive.hits.Load() != hits {
		t.Fatalf("a second check: %d rebuilds, %d requests", len(f.rebuilds(t)), f.archive.hits.Load()-hits)
	}
}

func TestDueAndUnchangedRebuildsNothing(t *testing.T) {
	f := setup(t, "weekly", unchanged)
	ctx := context.Background()
	f.clock.T = time.Date(2026, 12, 6, 4, 10, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.rebuilds(t)); n != 0 {
		t.Fatalf("%d rebuilds of an unchanged build", n)
	}
	if f.archive.hits.Load() == 0 {
		t.Fatal("the archive was not asked")
	}
	// The check is recorded: 15 minutes later nothing is asked again, and
	// the updates published then are seen at the next due time.
	hits := f.archive.hits.Load()
	f.archive.set(changed, false)
	f.clock.Advance(15 * time.Minute)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if f.archive.hits.Load() != hits || len(f.rebuilds(t)) != 0 {
		t.Fatal("checked again before the next due time")
	}
	f.clock.T = time.Date(2026, 12, 13, 4, 0, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.rebuilds(t)); n != 1 {
		t.Fatalf("%d rebuilds at the next due time", n)
	}
}

func TestNotDueChecksNothing(t *testing.T) {
	for _, sched := range []string{"weekly", "0 4 * * 1", ""} {
		t.Run(sched, func(t *testing.T) {
			f := setup(t, sched, changed)
			f.clock.T = time.Date(2026, 11, 30, 3, 59, 0, 0, time.UTC) // Monday, before 04:00; no schedule: never
			if err := f.checker.CheckSchedules(context.Background()); err != nil {
				t.Fatal(err)
			}
			if f.archive.hits.Load() != 0 || len(f.rebuilds(t)) != 0 {
				t.Fatalf("%d requests, %d rebuilds", f.archive.hits.Load(), len(f.rebuilds(t)))
			}
			if sched == "0 4 * * 1" {
				f.clock.Advance(time.Minute)
				if err := f.checker.CheckSchedules(context.Background()); err != nil {
					t.Fatal(err)
				}
				if len(f.rebuilds(t)) != 1 {
					t.Fatal("not rebuilt once due")
				}
			}
		})
	}
}

func TestConcurrentChecksRebuildOnce(t *testing.T) {
	f := setup(t, "weekly", changed)
	f.clock.T = time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.checker.CheckSchedules(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.rebuilds(t)); n != 1 {
		t.Fatalf("%d rebuilds from 8 concurrent checks, want 1", n)
	}
}

func TestArchiveDownIsRetried(t *testing.T) {
	f := setup(t, "weekly", changed)
	ctx := context.Background()
	f.archive.set(changed, true)
	f.clock.T = time.Date(2026, 12, 6, 4, 10, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err) // logged, not a job failure
	}
	if len(f.rebuilds(t)) != 0 {
		t.Fatal("rebuilt without reading the archive")
	}
	f.archive.set(changed, false)
	f.clock.Advance(15 * time.Minute)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.rebuilds(t)) != 1 {
		t.Fatal("the failed check was not tried again at the next interval")
	}
}

// A scheduled rebuild that still has the old versions (its build did not
// upgrade them) is not rebuilt again for the same versions.
func TestNoRebuildLoop(t *testing.T) {
	f := setup(t, "weekly", changed)
	ctx := context.Background()
	f.clock.T = time.Date(2026, 12, 6, 4, 10, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	rb := f.rebuilds(t)[0]
	// The rebuild succeeds with the same manifest.
	if _, err := f.db.Bun.NewUpdate().Model((*store.Run)(nil)).Set("spec = ?", f.run.Spec).Where("id = ?", rb.ID).Exec(ctx); err != nil {
		t.Fatal(err) // what validation records
	}
	arts, _ := f.db.Artifacts(ctx, f.run.ID)
	if err := f.db.AddArtifact(ctx, &store.Artifact{RunID: rb.ID, Name: dpkg.ManifestName, Type: run.ArtifactManifest, Location: arts[0].Location}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Finish(ctx, rb.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.T = time.Date(2026, 12, 13, 4, 10, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.rebuilds(t)); n != 1 {
		t.Fatalf("%d rebuilds: the rebuild was rebuilt for the same versions", n)
	}
	if !strings.Contains(mustCheckNote(t, f, rb.ID), "did not install them") {
		t.Fatalf("note %q", mustCheckNote(t, f, rb.ID))
	}
}

func mustCheckNote(t *testing.T, f *fixture, id int64) string {
	t.Helper()
	cands, err := f.db.ScheduleCandidates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if c.Run.ID == id && c.Check != nil {
			return c.Check.Note
		}
	}
	t.Fatalf("no check of run %d", id)
	return ""
}

func TestDue(t *testing.T) {
	from := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC) // a Sunday
	tests := []struct {
		name  string
		sched spec.Schedule
		want  time.Time
	}{
		{"weekly", "weekly", time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)},
		{"daily", "daily", time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)},
		{"cron", "30 2 * * 3", time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := freshness.Due(tt.sched, from)
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("Due = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := freshness.Due("61 * * * *", from); err == nil {
		t.Fatal("a bad cron was accepted")
	}
}

// Attack: a schedule that keeps finding updates the rebuilds never install
// (a hostile image pins old versions) rebuilds no more often than the
// minimum interval, whatever the cron says.
func TestMinIntervalBoundsRebuilds(t *testing.T) {
	f := setup(t, "daily", changed)
	f.checker.MinInterval = 72 * time.Hour
	ctx := context.Background()
	f.clock.T = time.Date(2026, 11, 30, 0, 10, 0, 0, time.UTC)
	for range 5 { // five days, checked every day just after midnight
		if err := f.checker.CheckSchedules(ctx); err != nil {
			t.Fatal(err)
		}
		for _, rb := range f.rebuilds(t) {
			if !rb.Status.Terminal() { // it fails: the next one is not coalesced into it
				if err := f.db.Finish(ctx, rb.ID, run.Failed, "pinned"); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.clock.Advance(24 * time.Hour)
	}
	if n := len(f.rebuilds(t)); n != 2 {
		t.Fatalf("%d scheduled rebuilds in 5 days at a 72-hour minimum interval, want 2", n)
	}
}

// addRun records another repository's successful scheduled build of
// release, with the fixture's manifest, finished at the clock's time.
func (f *fixture) addRun(t *testing.T, repo, release string) *store.Run {
	t.Helper()
	ctx := context.Background()
	in, err := f.db.Installation(ctx, *f.run.InstallationID)
	if err != nil {
		t.Fatal(err)
	}
	in.Repositories = append(in.Repositories, repo)
	if err := f.db.UpsertInstallation(ctx, in); err != nil {
		t.Fatal(err)
	}
	sp, _ := json.Marshal(map[string]string{"base": "debian", "release": release, "architecture": "x86_64", "schedule": "weekly"})
	r := &store.Run{Trigger: run.TriggerPush, InstallationID: f.run.InstallationID, Repo: repo, Ref: "refs/heads/main", DefaultBranch: "main",
		HeadSHA: f.run.HeadSHA, SpecPath: "linux-build.yaml", Spec: string(sp), RequestedBy: "octocat"}
	if err := f.db.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	arts, _ := f.db.Artifacts(ctx, f.run.ID)
	if err := f.db.AddArtifact(ctx, &store.Artifact{RunID: r.ID, Name: dpkg.ManifestName, Type: run.ArtifactManifest, Location: arts[0].Location}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Finish(ctx, r.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

// Attack: many builds of one release (one tenant's hundred repositories)
// each fetching the same suite indexes serially starve everyone else's
// checks: a pass fetches each suite once and shares it.
func TestOnePassFetchesEachSuiteOnce(t *testing.T) {
	one := setup(t, "weekly", changed)
	due := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	one.clock.T = due
	if err := one.checker.CheckSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := one.archive.hits.Load()

	f := setup(t, "weekly", changed)
	for _, repo := range []string{"octo/b", "octo/c", "octo/d"} {
		f.addRun(t, repo, "bookworm")
	}
	f.clock.T = due
	if err := f.checker.CheckSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.rebuilds(t)); n != 1 {
		t.Fatalf("%d rebuilds of octo/repo", n)
	}
	if got := f.archive.hits.Load(); got != want {
		t.Fatalf("4 builds of bookworm made %d requests; one makes %d", got, want)
	}
}

// recorder is a Mirror that records the releases asked for.
type recorder struct {
	mu       sync.Mutex
	releases []string
	block    chan struct{} // Latest waits for it (or the context) when set
}

func (r *recorder) Latest(ctx context.Context, _ spec.Base, release, _ string, _ map[string]bool) (map[string]string, error) {
	r.mu.Lock()
	r.releases = append(r.releases, release)
	r.mu.Unlock()
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return map[string]string{}, nil
}

// The longest-overdue build is checked first; each check is bounded in
// time, so one hanging archive does not hold up the others.
func TestOldestDueFirstAndBounded(t *testing.T) {
	f := setup(t, "weekly", changed)
	f.clock.T = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) // due a week before octo/repo
	f.addRun(t, "octo/old", "trixie")
	rec := &recorder{}
	f.checker.Mirror = rec
	f.clock.T = time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rec.releases, ",") != "trixie,bookworm" {
		t.Fatalf("checked %v; want the longest due (trixie) first", rec.releases)
	}

	// A hanging archive: every check gives up after CheckTimeout.
	g := setup(t, "weekly", changed)
	g.addRun(t, "octo/other", "trixie")
	g.checker.Mirror = &recorder{block: make(chan struct{})}
	g.checker.CheckTimeout = 50 * time.Millisecond
	g.clock.T = time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	start := time.Now()
	if err := g.checker.CheckSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a pass over a hanging archive took %s", d)
	}
}

// A schedule recorded before validation refused more-than-hourly crons is
// still checked at most hourly.
func TestFrequentCronCheckedHourly(t *testing.T) {
	f := setup(t, "*/5 * * * *", unchanged)
	ctx := context.Background()
	f.clock.T = time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
	for range 12 { // every 5 minutes for an hour
		f.clock.Advance(5 * time.Minute)
		if err := f.checker.CheckSchedules(ctx); err != nil {
			t.Fatal(err)
		}
	}
	one := setup(t, "weekly", unchanged)
	one.clock.T = time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	if err := one.checker.CheckSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := f.archive.hits.Load(), one.archive.hits.Load(); got != want {
		t.Fatalf("an hour of a 5-minute schedule made %d requests; one check makes %d", got, want)
	}
}

// Attack: an image whose status lists thousands of packages at version 0
// records at most dpkg.MaxRecorded updates, and counts the rest.
func TestRecordedUpdatesBounded(t *testing.T) {
	var manifest, index strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&manifest, "pkg%d\t0\tamd64\n", i)
		fmt.Fprintf(&index, "Package: pkg%d\nVersion: 1\n\n", i)
	}
	f := setup(t, "weekly", index.String())
	arts, _ := f.db.Artifacts(context.Background(), f.run.ID)
	if err := os.WriteFile(arts[0].Location, []byte(manifest.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	f.clock.T = time.Date(2026, 12, 6, 4, 10, 0, 0, time.UTC)
	if err := f.checker.CheckSchedules(context.Background()); err != nil {
		t.Fatal(err)
	}
	rbs := f.rebuilds(t)
	if len(rbs) != 1 {
		t.Fatalf("%d rebuilds", len(rbs))
	}
	ups, more, err := dpkg.ReadUpdates(rbs[0].PackageUpdates)
	if err != nil || len(ups) != dpkg.MaxRecorded || more != 3000-dpkg.MaxRecorded {
		t.Fatalf("recorded %d updates and %d more (%d bytes), %v", len(ups), more, len(rbs[0].PackageUpdates), err)
	}
}
