package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/report"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// bot gc on PostgreSQL, the file artifact store and the fake GitHub:
// --dry-run says what would go and removes nothing; then expired
// artifacts, the bot's releases beyond RELEASE_KEEP and crash leftovers
// of ended runs go, and it prints what it freed; an in-flight run's
// directory, unexpired artifacts, the newest release and a person's stay.
func TestGCCommand(t *testing.T) {
	db := storetest.Postgres(t, nil)
	ctx := context.Background()
	dataDir := t.TempDir()
	fake := githubtest.New(t)
	t.Setenv("DATABASE_URL", db.URL)
	t.Setenv("ARTIFACT_STORE", "")
	t.Setenv("DOCKER_CACHE_BUDGET", "off") // the engine is shared: internal/pipeline/docker tests the prune
	t.Setenv("RELEASE_KEEP", "1")
	t.Setenv("GITHUB_APP_ID", "1")
	key := testKey(t)
	t.Setenv("GITHUB_PRIVATE_KEY", key)
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_API_URL", fake.APIURL())
	t.Setenv("GITHUB_UPLOAD_URL", fake.UploadsURL())

	as, err := artifacts.Open(ctx, artifacts.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	app, err := github.NewApp(github.Config{AppID: 1, PrivateKey: []byte(key), APIURL: fake.APIURL(), UploadURL: fake.UploadsURL()})
	if err != nil {
		t.Fatal(err)
	}
	inst := int64(7)
	newRun := func(sha string) *store.Run {
		t.Helper()
		rn := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: sha, SpecPath: "linux-build.yaml"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		return rn
	}
	var released []*store.Run
	for _, sha := range []string{"1111111aaaa", "2222222bbbb", "3333333cccc"} {
		rn := newRun(sha)
		rel, err := app.CreateRelease(ctx, inst, rn.Repo, &gh.RepositoryRelease{TagName: gh.Ptr(report.Tag(rn)), TargetCommitish: gh.Ptr(sha)})
		if err != nil {
			t.Fatal(err)
		}
		id, url := rel.GetID(), rel.GetHTMLURL()
		if err := db.RecordReport(ctx, rn.ID, store.ReportUpdate{ReleaseID: &id, ReleaseURL: &url}); err != nil {
			t.Fatal(err)
		}
		if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
			t.Fatal(err)
		}
		released = append(released, rn)
	}
	if _, err := app.CreateRelease(ctx, inst, "octo/repo", &gh.RepositoryRelease{TagName: gh.Ptr("v1.0")}); err != nil {
		t.Fatal(err)
	}
	ended := released[0]
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	put := func(name, body string, expires *time.Time) string {
		t.Helper()
		key, _ := artifacts.RunKey(ended.ID, name)
		obj, err := as.Put(ctx, key, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: ended.ID, Name: name, Type: run.ArtifactISO, Key: key, Size: obj.Size, SHA256: obj.SHA256, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	expiredKey := put("linux.iso", strings.Repeat("i", 5000), &past)
	freshKey := put("spec.json", "{}", &future)
	flying := newRun("4444444dddd") // PENDING: in flight
	dirs := map[string]bool{        // name → survives
		filepath.Join("work", strconv.FormatInt(ended.ID, 10)):  false,
		filepath.Join("work", strconv.FormatInt(flying.ID, 10)): true,
		filepath.Join("work", "not-a-run"):                      true,
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(dataDir, d, ".iso-work-1"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, d, "linux.iso.part"), make([]byte, 3000), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errs := runBot(t, "", "gc", "--dry-run", "--data-dir", dataDir)
	t.Logf("bot gc --dry-run:\n%s", out)
	if code != 0 {
		t.Fatalf("gc --dry-run: exit %d: %s", code, errs)
	}
	for _, want := range []string{"artifacts  would remove 1 expired (4.9 KiB)", "releases   would remove 2 beyond the newest 1 per branch",
		"docker     kept (DOCKER_CACHE_BUDGET=off)", "work       would remove 1 leftover run directories (2.9 KiB)", "would free 7.8 KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if _, err := as.Stat(ctx, expiredKey); err != nil {
		t.Errorf("the dry run deleted the expired artifact: %v", err)
	}
	if n := len(fake.Releases()); n != 4 {
		t.Errorf("the dry run deleted releases: %d left", n)
	}

	code, out, errs = runBot(t, "", "gc", "--data-dir", dataDir)
	t.Logf("bot gc:\n%s", out)
	if code != 0 {
		t.Fatalf("gc: exit %d: %s", code, errs)
	}
	for _, want := range []string{"artifacts  removed 1 expired (4.9 KiB)", "releases   removed 2 beyond the newest 1 per branch",
		"work       removed 1 leftover run directories (2.9 KiB)", "freed 7.8 KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := as.Stat(ctx, expiredKey); err == nil {
		t.Error("the expired artifact is still in the store")
	}
	if _, err := as.Stat(ctx, freshKey); err != nil {
		t.Errorf("the unexpired artifact was deleted: %v", err)
	}
	tags := map[string]bool{}
	for _, r := range fake.Releases() {
		tags[r.Tag] = true
	}
	if !tags["v1.0"] || !tags[report.Tag(released[2])] || tags[report.Tag(released[0])] || tags[report.Tag(released[1])] {
		t.Errorf("releases left: %v; want the newest and the person's", tags)
	}
	for d, survives := range dirs {
		_, err := os.Stat(filepath.Join(dataDir, d))
		if survives != (err == nil) {
			t.Errorf("%s: survives %v, stat %v", d, survives, err)
		}
	}
	// Nothing left: a second pass frees nothing.
	if code, out, _ := runBot(t, "", "gc", "--data-dir", dataDir); code != 0 || !strings.Contains(out, "freed 0 B") {
		t.Errorf("second gc: exit %d\n%s", code, out)
	}
}

// Malformed settings are usage errors that name the variable.
func TestGCSettings(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	for env, want := range map[string]string{
		"DOCKER_CACHE_BUDGET": "DOCKER_CACHE_BUDGET",
		"RELEASE_KEEP":        "RELEASE_KEEP",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "-5 lots")
			code, _, errs := runBot(t, "", "gc", "--data-dir", t.TempDir())
			if code != 2 || !strings.Contains(errs, want) {
				t.Errorf("exit %d: %s", code, errs)
			}
		})
	}
	for in, want := range map[string]int64{"20GiB": 20 << 30, "500MB": 500e6, "1024": 1024, "1.5G": 3 << 29, "8 MiB": 8 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1", "20XB", "99999999999TiB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
	t.Setenv("RUN_LOG_MAX_LINES", "many")
	if code, _, errs := runBot(t, "", "build", "--data-dir", t.TempDir(), "../../examples/minimal-debian.yaml"); code != 2 || !strings.Contains(errs, "RUN_LOG_MAX_LINES") {
		t.Errorf("a malformed RUN_LOG_MAX_LINES: exit %d: %s", code, errs)
	}
}

// The prune's run keys are resolved against the database: only a key of
// this database's run (its id and creation time) that has ended is
// removable; a run in flight, another database's run with the same id,
// an unknown id and a malformed key are not.
func TestEndedRunsResolvesRunKeysAgainstTheStore(t *testing.T) {
	db := storetest.Postgres(t, nil)
	ctx := context.Background()
	mk := func() *store.Run {
		rn := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "linux-build.yaml"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		got, err := db.Run(ctx, rn.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	done, flying := mk(), mk()
	if err := db.Finish(ctx, done.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	key := func(rn *store.Run) string {
		return pipeline.RunKey(&pipeline.RunRecord{ID: rn.ID, CreatedAt: rn.CreatedAt})
	}
	other := fmt.Sprintf("%d@20200101T000000.000000", done.ID)
	keys := []string{key(done), key(flying), other, "999999@20200101T000000.000000", "x@y", "@", ""}
	got, err := endedRuns(db)(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[key(done)] {
		t.Fatalf("ended of %v: %v; want only %s", keys, got, key(done))
	}
}
