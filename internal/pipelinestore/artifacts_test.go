package pipelinestore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/artifacts/artifactstest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// machine is one worker's pipeline: its own work directory, the shared
// database and its own client of the shared artifact store.
type machine struct {
	p   *pipeline.Pipeline
	dir string
	b   *countingBuilder
}

func newMachine(t *testing.T, db *store.DB, url string, now time.Time, b pipeline.ImageBuilder) machine {
	t.Helper()
	as, err := artifacts.Open(context.Background(), artifacts.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	dir := t.TempDir()
	cfg := pipeline.Config{Store: Store{DB: db, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return now }},
		Renderer: cacheRenderer{}, Builder: b, ArtifactsDir: dir, Artifacts: Artifacts{Store: as},
		ISO: &flakyISO{}, Boot: &flakyBoot{}, Firmwares: []pipeline.Firmware{pipeline.BIOS}}
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := b.(*countingBuilder)
	return machine{p: p, dir: dir, b: cb}
}

func newRun(t *testing.T, db *store.DB) *store.Run {
	t.Helper()
	inst := int64(3)
	rn := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", SpecPath: "linux-build.yaml",
		SpecSource: "base: debian\npackages: [curl]\n", InstallationID: &inst}
	if err := db.CreateRun(context.Background(), rn); err != nil {
		t.Fatal(err)
	}
	return rn
}

// files lists the regular files under dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// checkStored checks that run id's rows name its own objects (no host
// path), that the objects hold the recorded bytes, and that they expire
// ARTIFACT_RETENTION after they were recorded.
func checkStored(t *testing.T, db *store.DB, as *artifacts.Store, id int64, expires time.Time) map[string]store.Artifact {
	t.Helper()
	ctx := context.Background()
	arts, err := db.Artifacts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Artifact{}
	for _, a := range arts {
		got[a.Name] = a
		want, _ := artifacts.RunKey(id, a.Name)
		if a.Key != want || a.Location != "" {
			t.Fatalf("run %d's %s recorded as key %q, location %q; want key %q and no path", id, a.Name, a.Key, a.Location, want)
		}
		if a.ExpiresAt == nil || !a.ExpiresAt.Equal(expires) {
			t.Fatalf("run %d's %s expires at %v, want %v", id, a.Name, a.ExpiresAt, expires)
		}
		r, _, err := as.Get(ctx, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, artifacts.Verify(r, artifacts.Object{Key: a.Key, Size: a.Size, SHA256: a.SHA256}))
		r.Close()
		if err != nil {
			t.Fatalf("run %d's %s: %v", id, a.Name, err)
		}
	}
	for _, n := range []string{"spec.json", "image.tar.zst", "linux.iso", "boot-bios.log", "build.log", "SHA256SUMS"} {
		if _, ok := got[n]; !ok {
			t.Fatalf("run %d lacks %s: %v", id, n, arts)
		}
	}
	return got
}

// A run built on machine A puts every artifact in the (S3) artifact store
// and records it by key; A's work directory is gone once the run ends. An
// identical run on machine B, whose disk A's files never reached — A's
// directory is removed first — is a cache hit: B builds nothing and gets
// its own copies in the store.
func TestArtifactsCrossMachinesThroughTheStore(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		f := artifactstest.NewS3(t)
		artifactstest.SetCreds(t, artifactstest.AccessKey, artifactstest.SecretKey)
		url := f.URL(artifactstest.Bucket)
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		a, b := newMachine(t, db, url, now, &countingBuilder{}), newMachine(t, db, url, now, &countingBuilder{})
		check, err := artifacts.Open(ctx, artifacts.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer check.Close()

		first := newRun(t, db)
		if err := a.p.Run(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		if rn, _ := db.Run(ctx, first.ID); rn.Status != run.StatusSuccess {
			t.Fatalf("run A ended %s: %s", rn.Status, rn.FailureReason)
		}
		fromA := checkStored(t, db, check, first.ID, now.Add(30*24*time.Hour))
		if left := files(t, a.dir); len(left) > 0 {
			t.Fatalf("machine A kept work files: %v", left)
		}
		if err := os.RemoveAll(a.dir); err != nil {
			t.Fatal(err)
		}

		second := newRun(t, db)
		if err := b.p.Run(ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		if rn, _ := db.Run(ctx, second.ID); rn.Status != run.StatusSuccess {
			t.Fatalf("run B ended %s: %s", rn.Status, rn.FailureReason)
		}
		if a.b.builds != 1 || b.b.builds != 0 {
			t.Fatalf("builds: A %d, B %d; want B's run to be a cache hit", a.b.builds, b.b.builds)
		}
		fromB := checkStored(t, db, check, second.ID, now.Add(30*24*time.Hour))
		if fromB["linux.iso"].SHA256 != fromA["linux.iso"].SHA256 || fromB["image.tar.zst"].SHA256 != fromA["image.tar.zst"].SHA256 {
			t.Fatal("B's adopted artifacts differ from A's")
		}
		if left := files(t, b.dir); len(left) > 0 {
			t.Fatalf("machine B kept work files: %v", left)
		}
	})
}

// dropOnSave is a builder whose image save arms the S3 proxy to drop
// every connection: the image's upload fails midway.
type dropOnSave struct {
	countingBuilder
	arm func()
}

func (d *dropOnSave) Save(ctx context.Context, id string, w io.Writer) error {
	d.arm()
	_, err := w.Write(bytes.Repeat([]byte("image"), 200_000))
	return err
}

// An upload that the store's server drops makes the job retry (Run returns
// an error, the run is not ended) and records no row for the artifact;
// the retried job completes once the store is back.
func TestFailedUploadRetriesTheJob(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		f := artifactstest.NewS3(t)
		artifactstest.SetCreds(t, artifactstest.AccessKey, artifactstest.SecretKey)
		b := &dropOnSave{arm: func() { f.Proxy.DropAfter(0) }}
		m := newMachine(t, db, f.URL(artifactstest.Bucket), time.Now(), b)
		rn := newRun(t, db)
		err := m.p.Run(ctx, rn.ID)
		if err == nil || !strings.Contains(err.Error(), "image.tar.zst") || f.Proxy.Drops() == 0 {
			t.Fatalf("Run = %v (%d drops), want an error for the job to retry, naming image.tar.zst", err, f.Proxy.Drops())
		}
		got, _ := db.Run(ctx, rn.ID)
		if got.Status.Terminal() {
			t.Fatalf("the run ended %s (%s); a failed upload must leave it for the retry", got.Status, got.FailureReason)
		}
		arts, err := db.Artifacts(ctx, rn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range arts {
			if a.Name == "image.tar.zst" {
				t.Fatalf("the image was recorded although its upload failed: %+v", a)
			}
		}
		b.arm = func() {}
		f.Proxy.DropAfter(-1)
		if err := m.p.Run(ctx, rn.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ = db.Run(ctx, rn.ID); got.Status != run.StatusSuccess {
			t.Fatalf("the retried run ended %s: %s", got.Status, got.FailureReason)
		}
	})
}
