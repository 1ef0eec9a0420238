package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

func newReleases(tb testing.TB) (*Releases, *githubtest.Server, *store.DB) {
	tb.Helper()
	app, reports, fake, db := fixture(tb)
	r := &Releases{GitHub: app, Store: db, Reports: reports, Link: "https://github.com/apps/linux-builder"}
	legacyDirs.Store(r, tb.TempDir())
	return r, fake, db
}

// legacyDirs holds each test Releases' directory of runs' files recorded
// by path, as rows were before the artifact store.
var legacyDirs sync.Map

func legacyDir(r *Releases) string {
	d, _ := legacyDirs.Load(r)
	return d.(string)
}

// successfulRun makes a successful GitHub run with artifacts on disk, in
// its directory under artifactsDir.
func successfulRun(t testing.TB, db *store.DB, artifactsDir string, files map[string][]byte, trigger run.Trigger) *store.Run {
	t.Helper()
	ctx := context.Background()
	inst := int64(7)
	rn := &store.Run{Trigger: trigger, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA,
		SpecPath: "linux-build.yaml", Base: "debian", Warnings: []string{"dnscrypt-proxy is not packaged"}}
	if err := db.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(artifactsDir, fmt.Sprint(rn.ID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	types := map[string]run.ArtifactType{"linux.iso": run.ArtifactISO, "image.tar.zst": run.ArtifactImage,
		"spec.json": run.ArtifactSpec, "boot-bios.log": run.ArtifactBootLog, "boot-uefi.log": run.ArtifactBootLog,
		"packages.txt": run.ArtifactManifest}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: name, Type: types[name], Location: p, Size: int64(len(content)),
			SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendLogs(ctx, []store.RunLog{{RunID: rn.ID, Step: "BUILDING", Level: run.LogInfo, Message: "Step 1/9 : FROM debian:bookworm"}}); err != nil {
		t.Fatal(err)
	}
	writeRunFiles(t, db, rn.ID, dir)
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	return rn
}

// writeRunFiles does what the pipeline does when a run completes: it
// writes build.log (the run's log) and SHA256SUMS (of the run's files)
// into dir and records both as artifacts.
func writeRunFiles(t testing.TB, db *store.DB, runID int64, dir string) {
	t.Helper()
	ctx := context.Background()
	logs, err := db.Logs(ctx, runID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for _, l := range logs {
		fmt.Fprintf(&log, "%s %s %s\n", l.Step, l.Level, l.Message)
	}
	add := func(name string, typ run.ArtifactType, content []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o640); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: runID, Name: name, Type: typ, Location: p, Size: int64(len(content)),
			SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
	}
	add("build.log", run.ArtifactLog, []byte(log.String()))
	arts, err := db.Artifacts(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, a := range arts {
		fmt.Fprintf(&sums, "%s  %s\n", a.SHA256, a.Name)
	}
	add("SHA256SUMS", run.ArtifactChecksum, []byte(sums.String()))
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// A successful run becomes a release with every asset, their digests
// those of the files on disk; a broken upload (502 half-way) is retried
// after its partial asset is deleted; publishing again changes nothing.
func TestReleaseWithAllAssets(t *testing.T) {
	r, fake, db := newReleases(t)
	ctx := context.Background()
	files := map[string][]byte{"linux.iso": []byte(strings.Repeat("iso", 5000)), "image.tar.zst": []byte(strings.Repeat("img", 7000)),
		"spec.json": []byte(`{"base":"debian"}`), "boot-bios.log": []byte("LINUX-BUILDER-BOOT-OK run=1\n"),
		"boot-uefi.log": {}} // an empty file is uploaded with Content-Length: 0
	run := successfulRun(t, db, legacyDir(r), files, run.TriggerPush)
	fake.BreakUploads(1)
	if err := r.Publish(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	rels := fake.Releases()
	if len(rels) != 1 {
		t.Fatalf("%d releases", len(rels))
	}
	rel := rels[0]
	if rel.Tag != fmt.Sprintf("linux-build/6113728-%d", run.ID) || rel.Target != checkSHA || rel.Prerelease ||
		!strings.Contains(rel.Body, "dnscrypt-proxy is not packaged") || !strings.Contains(rel.Body, "sha256sum -c SHA256SUMS") {
		t.Fatalf("release %+v", rel)
	}
	got := map[string]*githubtest.Asset{}
	for _, a := range rel.Assets {
		if got[a.Name] != nil {
			t.Fatalf("asset %s twice", a.Name)
		}
		got[a.Name] = a
	}
	for name, content := range files {
		a := got[name]
		if a == nil || a.State != "uploaded" || a.Digest != digestOf(content) || a.Size != int64(len(content)) {
			t.Fatalf("asset %s: %+v", name, a)
		}
	}
	sums, err := os.ReadFile(filepath.Join(filepath.Dir(mustArtifact(t, db, run.ID).Location), "SHA256SUMS"))
	if err != nil || got["SHA256SUMS"] == nil || got["SHA256SUMS"].Digest != digestOf(sums) || got["build.log"] == nil {
		t.Fatalf("SHA256SUMS/build.log: %v %+v", err, got)
	}
	for name, content := range files {
		if !strings.Contains(string(sums), digestOf(content)[7:]+"  "+name) {
			t.Fatalf("SHA256SUMS lacks %s:\n%s", name, sums)
		}
	}
	after, _ := db.Run(ctx, run.ID)
	if after.ReleaseURL == "" || after.ReleaseID == nil {
		t.Fatalf("release not recorded: %+v", after)
	}
	arts, _ := db.Artifacts(ctx, run.ID)
	for _, a := range arts {
		if !strings.HasPrefix(a.URL, "https://github.com/octo/repo/releases/download/") {
			t.Fatalf("artifact %s has no download URL", a.Name)
		}
	}
	// Idempotent: a second publish (a retried job) uploads nothing.
	calls := len(fake.Calls())
	if err := r.Publish(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range fake.Calls()[calls:] {
		if strings.HasPrefix(c, "POST") {
			t.Fatalf("second publish wrote: %v", fake.Calls()[calls:])
		}
	}
}

func mustArtifact(t *testing.T, db *store.DB, id int64) store.Artifact {
	t.Helper()
	arts, err := db.Artifacts(context.Background(), id)
	if err != nil || len(arts) == 0 {
		t.Fatalf("artifacts: %v", err)
	}
	return arts[0]
}

// Files too large for one asset are published in parts that reassemble to
// the file; pull request builds are pre-releases.
func TestLargeFilesArePublishedInParts(t *testing.T) {
	r, fake, db := newReleases(t)
	r.PartSize = 1000
	iso := []byte(strings.Repeat("0123456789", 250)) // 2,500 bytes: 3 parts
	run := successfulRun(t, db, legacyDir(r), map[string][]byte{"linux.iso": iso}, run.TriggerPullRequest)
	if err := r.Publish(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	rel := fake.Releases()[0]
	var names []string
	byName := map[string]*githubtest.Asset{}
	for _, a := range rel.Assets {
		names = append(names, a.Name)
		byName[a.Name] = a
	}
	slices.Sort(names)
	want := "[SHA256SUMS build.log linux.iso.part01 linux.iso.part02 linux.iso.part03]"
	if fmt.Sprint(names) != want || !rel.Prerelease || !strings.Contains(rel.Body, "cat linux.iso.part* > linux.iso") {
		t.Fatalf("assets %v (want %s), prerelease %v\n%s", names, want, rel.Prerelease, rel.Body)
	}
	for i := range 3 {
		part := iso[i*1000 : min((i+1)*1000, len(iso))]
		if a := byName[fmt.Sprintf("linux.iso.part%02d", i+1)]; a.Digest != digestOf(part) {
			t.Fatalf("part %d digest", i+1)
		}
	}
}

// BenchmarkUploadRSS uploads a 1 GiB ISO to the fake and reports the
// process's peak RSS: uploads stream from disk.
//
//	go test -run '^$' -bench UploadRSS -benchtime 1x ./internal/report
func BenchmarkUploadRSS(b *testing.B) {
	r, fake, db := newReleases(b)
	ctx := context.Background()
	inst := int64(7)
	rn := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", HeadSHA: checkSHA, SpecPath: "linux-build.yaml"}
	if err := db.CreateRun(ctx, rn); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(legacyDir(r), fmt.Sprint(rn.ID))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "linux.iso")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	h := sha256.New()
	for range 1024 {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
		h.Write(chunk)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: p, Size: 1 << 30,
		SHA256: hex.EncodeToString(h.Sum(nil))}); err != nil {
		b.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		b.Fatal(err)
	}
	before := vmHWM(b)
	b.ResetTimer()
	if err := r.Publish(ctx, rn.ID); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if a := fake.Releases()[0].Assets[0]; a.Size != 1<<30 || a.State != "uploaded" {
		b.Fatalf("asset %+v", a)
	}
	b.ReportMetric(float64(before)/1024, "rss-before-MiB")
	b.ReportMetric(float64(vmHWM(b))/1024, "peak-rss-MiB")
}

func vmHWM(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	return 0
}
