package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// runDir is run id's directory under the releases' artifacts directory.
func runDir(r *Releases, id int64) string { return filepath.Join(legacyDir(r), fmt.Sprint(id)) }

// dirSnapshot lists a directory's files with their contents.
func dirSnapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s=%q\n", e.Name(), c)
	}
	return b.String()
}

// cacheHitRun makes a successful run of installation inst whose artifact
// rows are arts with locations made by loc (a cache hit), and one log line.
func cacheHitRun(t *testing.T, db *store.DB, inst int64, arts []store.Artifact, loc func(store.Artifact) string, logLine string) *store.Run {
	t.Helper()
	ctx := context.Background()
	rn := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "other/repo", Ref: "refs/heads/main", HeadSHA: checkSHA,
		SpecPath: "linux-build.yaml", Base: "debian"}
	if err := db.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if a.Type == run.ArtifactLog || a.Type == run.ArtifactChecksum {
			continue
		}
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: a.Name, Type: a.Type, Location: loc(a), Size: a.Size, SHA256: a.SHA256}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendLogs(ctx, []store.RunLog{{RunID: rn.ID, Step: "GENERATING", Level: run.LogInfo, Message: logLine}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	return rn
}

// A cache-hit release of another run writes nothing into the source run's
// directory, and its build.log is its own: rows that point into another
// run's directory (what the cache recorded before runs had their own
// copies) are refused, and a run whose files are hard links of the
// source's (even its build.log) leaves the source's files untouched.
func TestCacheHitReleaseWritesOnlyIntoItsRun(t *testing.T) {
	tests := []struct {
		name    string
		adopt   bool // link the source's files (and its build.log) into the run's own directory
		wantErr string
	}{
		{name: "rows pointing into the source run are refused", adopt: false, wantErr: "not in the run's directory"},
		{name: "hard-linked copies publish the run's own log", adopt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, fake, db := newReleases(t)
			ctx := context.Background()
			files := map[string][]byte{"linux.iso": []byte("iso of A"), "spec.json": []byte(`{"base":"debian"}`)}
			a := successfulRun(t, db, legacyDir(r), files, run.TriggerPush)
			if err := r.Publish(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			srcDir := runDir(r, a.ID)
			before := dirSnapshot(t, srcDir)
			arts, err := db.Artifacts(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			loc := func(x store.Artifact) string { return x.Location }
			var b *store.Run
			if tc.adopt {
				b = cacheHitRun(t, db, 8, arts, func(store.Artifact) string { return "" }, "B's own log line")
				own := runDir(r, b.ID)
				if err := os.MkdirAll(own, 0o750); err != nil {
					t.Fatal(err)
				}
				for _, x := range arts { // the pipeline adopts every file but the run's own
					if x.Type == run.ArtifactLog || x.Type == run.ArtifactChecksum {
						continue
					}
					if err := os.Link(x.Location, filepath.Join(own, x.Name)); err != nil {
						t.Fatal(err)
					}
					if err := db.AddArtifact(ctx, &store.Artifact{RunID: b.ID, Name: x.Name, Type: x.Type, Location: filepath.Join(own, x.Name),
						Size: x.Size, SHA256: x.SHA256}); err != nil {
						t.Fatal(err)
					}
				}
				writeRunFiles(t, db, b.ID, own)
			} else {
				b = cacheHitRun(t, db, 8, arts, loc, "B's own log line")
			}
			err = r.Publish(ctx, b.ID)
			if after := dirSnapshot(t, srcDir); after != before {
				t.Fatalf("run %d's directory changed by run %d's release:\nbefore %s\nafter  %s", a.ID, b.ID, before, after)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("publish: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log, err := os.ReadFile(filepath.Join(runDir(r, b.ID), "build.log"))
			if err != nil || !strings.Contains(string(log), "B's own log line") || strings.Contains(string(log), "FROM debian") {
				t.Fatalf("run B's build.log: %v\n%s", err, log)
			}
			rels := fake.Releases()
			if len(rels) != 2 || rels[1].Repo != "other/repo" {
				t.Fatalf("releases %+v", rels)
			}
		})
	}
}

// With a relative DATA_DIR the pipeline recorded relative locations: the
// release must not go out without them (it went out with only build.log
// and SHA256SUMS). A relative location is an error naming the artifact.
func TestRelativeArtifactIsAnError(t *testing.T) {
	r, fake, db := newReleases(t)
	ctx := context.Background()
	t.Chdir(t.TempDir())
	inst := int64(7)
	rn := &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA, SpecPath: "linux-build.yaml"}
	if err := db.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("data", "artifacts", fmt.Sprint(rn.ID))
	if err := os.MkdirAll(rel, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"linux.iso", "spec.json"} {
		if err := os.WriteFile(filepath.Join(rel, name), []byte(name), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: name, Type: run.ArtifactISO, Location: filepath.Join(rel, name),
			Size: int64(len(name)), SHA256: "00"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	err := r.Publish(ctx, rn.ID)
	if err == nil || !strings.Contains(err.Error(), "linux.iso") {
		t.Fatalf("publish: %v, want an error naming linux.iso", err)
	}
	if rels := fake.Releases(); len(rels) != 0 {
		t.Fatalf("a release was published without the artifacts: %+v", rels)
	}
}
