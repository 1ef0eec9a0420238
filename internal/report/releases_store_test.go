package report

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/artifacts/artifactstest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// storedRun makes a successful GitHub run whose artifacts are objects in
// the artifact store only (another machine built it: nothing on disk
// here), recorded by key as the pipeline records them.
func storedRun(t *testing.T, db *store.DB, as *artifacts.Store, files map[string][]byte, keyOf func(id int64, name string) string) *store.Run {
	t.Helper()
	ctx := context.Background()
	inst := int64(7)
	rn := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA,
		SpecPath: "linux-build.yaml", Base: "debian"}
	if err := db.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	types := map[string]run.ArtifactType{"linux.iso": run.ArtifactISO, "image.tar.zst": run.ArtifactImage, "spec.json": run.ArtifactSpec,
		"build.log": run.ArtifactLog, "SHA256SUMS": run.ArtifactChecksum}
	for name, content := range files {
		obj, err := as.Put(ctx, keyOf(rn.ID, name), bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: name, Type: types[name], Key: obj.Key, Size: obj.Size, SHA256: obj.SHA256}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	return rn
}

func s3Store(t *testing.T) *artifacts.Store {
	t.Helper()
	f := artifactstest.NewS3(t)
	artifactstest.SetCreds(t, artifactstest.AccessKey, artifactstest.SecretKey)
	s, err := artifacts.Open(context.Background(), artifacts.Config{URL: f.URL(artifactstest.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func runKey(id int64, name string) string {
	k, err := artifacts.RunKey(id, name)
	if err != nil {
		panic(err)
	}
	return k
}

// The worker that publishes a run need not be the one that built it: the
// assets are streamed from the artifact store (S3 here), whole or in
// parts, with the digests of the stored bytes.
func TestReleaseFromTheArtifactStore(t *testing.T) {
	r, fake, db := newReleases(t)
	r.Artifacts = s3Store(t)
	r.PartSize = 1000
	iso := []byte(strings.Repeat("0123456789", 250)) // 3 parts
	files := map[string][]byte{"linux.iso": iso, "spec.json": []byte(`{"base":"debian"}`), "build.log": []byte("log\n"), "SHA256SUMS": []byte("sums\n")}
	rn := storedRun(t, db, r.Artifacts.(*artifacts.Store), files, runKey)
	if err := r.Publish(context.Background(), rn.ID); err != nil {
		t.Fatal(err)
	}
	rels := fake.Releases()
	if len(rels) != 1 {
		t.Fatalf("releases %+v", rels)
	}
	got := map[string]string{}
	for _, a := range rels[0].Assets {
		got[a.Name] = a.Digest
	}
	want := map[string]string{"spec.json": digestOf(files["spec.json"]), "build.log": digestOf(files["build.log"]), "SHA256SUMS": digestOf(files["SHA256SUMS"])}
	for i := range 3 {
		want[fmt.Sprintf("linux.iso.part%02d", i+1)] = digestOf(iso[i*1000 : min((i+1)*1000, len(iso))])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("assets %v, want %v", got, want)
	}
}

// A row whose key is not one of the run's own (another run's object) is
// refused, never published.
func TestReleaseRefusesAnotherRunsKey(t *testing.T) {
	r, fake, db := newReleases(t)
	r.Artifacts = s3Store(t)
	rn := storedRun(t, db, r.Artifacts.(*artifacts.Store), map[string][]byte{"linux.iso": []byte("iso")},
		func(id int64, name string) string { return runKey(id+1000, name) })
	err := r.Publish(context.Background(), rn.ID)
	if err == nil || !strings.Contains(err.Error(), "is not one of run") {
		t.Fatalf("publish: %v, want another run's key refused", err)
	}
	if rels := fake.Releases(); len(rels) != 0 {
		t.Fatalf("published: %+v", rels)
	}
}
