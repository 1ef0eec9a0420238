package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// cacheRun runs run id of installation inst on a fresh store whose cache
// holds cached under every key (nil: empty), and returns the store.
func cacheRun(t *testing.T, dir string, id, inst int64, b *fakeBuilder, cached map[string][]Artifact) *memStore {
	t.Helper()
	st := &memStore{rec: RunRecord{ID: id, InstallationID: inst, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec)},
		state: run.Pending, cache: map[string][]Artifact{}}
	for k, v := range cached {
		st.cache[k] = v
	}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Complete {
		t.Fatalf("run %d ended %s: %s", id, st.state, st.reason)
	}
	return st
}

// Two installations building the same spec never share the cache: the
// second builds its own image (the key installation 1 recorded is not
// installation 2's).
func TestCacheIsPerInstallation(t *testing.T) {
	tests := []struct {
		name      string
		inst      int64
		wantBuild bool
	}{
		{name: "same installation hits the cache", inst: 1, wantBuild: false},
		{name: "another installation builds", inst: 2, wantBuild: true},
		{name: "a CLI run (no installation) builds", inst: 0, wantBuild: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := cacheRun(t, dir, 1, 1, &fakeBuilder{}, nil)
			cached := map[string][]Artifact{first.hash: first.arts}
			b := &fakeBuilder{}
			if !tc.wantBuild {
				b.fail = errors.New("must not build: cache hit expected")
			}
			second := cacheRun(t, dir, 2, tc.inst, b, cached)
			built := slices.Contains(second.steps, run.Building)
			if built != tc.wantBuild {
				t.Fatalf("built=%v, want %v (keys %q and %q)", built, tc.wantBuild, first.hash, second.hash)
			}
			if (first.hash == second.hash) == tc.wantBuild {
				t.Fatalf("keys %q and %q", first.hash, second.hash)
			}
		})
	}
}

// A cache hit gives the run its own copies (links) of the cached files in
// its own directory; the source run's per-run files (build log,
// SHA256SUMS, resolved spec) are not taken over, and nothing in the source
// run's directory changes.
func TestCacheHitAdoptsArtifactsIntoItsOwnDir(t *testing.T) {
	dir := t.TempDir()
	first := cacheRun(t, dir, 1, 5, &fakeBuilder{}, nil)
	srcDir := filepath.Join(dir, "1")
	// Run 1's own files, as its run wrote them (marked to tell them apart).
	for name, typ := range map[string]run.ArtifactType{"build.log": run.ArtifactLog, "SHA256SUMS": run.ArtifactChecksum} {
		p := filepath.Join(srcDir, name)
		if err := os.WriteFile(p, []byte("run 1's "+name+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		first.arts = append(first.arts, Artifact{Name: name, Type: typ, Path: p, Size: 1})
	}
	first.arts = append(first.arts, Artifact{Name: "image-ref", Type: run.ArtifactImageRef, Path: "registry.example/img:run-1"})
	before := snapshot(t, srcDir)

	second := cacheRun(t, dir, 2, 5, &fakeBuilder{fail: errors.New("must not build")}, map[string][]Artifact{first.hash: first.arts})
	own := filepath.Join(dir, "2")
	got := map[string]Artifact{}
	for _, a := range second.arts {
		if _, dup := got[a.Name]; dup {
			t.Fatalf("artifact %s recorded twice: %+v", a.Name, second.arts)
		}
		got[a.Name] = a
	}
	for _, name := range []string{"build.log", "SHA256SUMS"} {
		a, ok := got[name]
		if !ok || a.Path != filepath.Join(own, name) {
			t.Fatalf("run 2's %s is %+v, want its own in %s", name, a, own)
		}
		if b, err := os.ReadFile(a.Path); err != nil || strings.HasPrefix(string(b), "run 1's") {
			t.Fatalf("run 2 took over run 1's %s: %q %v", name, b, err)
		}
	}
	if got["image-ref"].Path != "registry.example/img:run-1" {
		t.Fatalf("image ref %+v", got["image-ref"])
	}
	for _, name := range []string{"spec.json", "image.tar.zst"} {
		a, ok := got[name]
		if !ok || filepath.Dir(a.Path) != own {
			t.Fatalf("artifact %s at %q, want in %s", name, a.Path, own)
		}
		want, _ := os.ReadFile(filepath.Join(srcDir, name))
		b, err := os.ReadFile(a.Path)
		if err != nil || string(b) != string(want) {
			t.Fatalf("%s: %v, content %q want %q", name, err, b, want)
		}
	}
	if after := snapshot(t, srcDir); after != before {
		t.Fatalf("run 1's directory changed:\n%s\n---\n%s", before, after)
	}
}

// snapshot lists a directory's files and contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + "=" + string(c) + "\n")
	}
	return b.String()
}

// A relative artifacts directory (DATA_DIR=data) still records absolute
// artifact locations: the release job refuses relative ones.
func TestArtifactLocationsAreAbsolute(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	st := cacheRun(t, filepath.Join("data", "artifacts"), 1, 1, &fakeBuilder{}, nil)
	if len(st.arts) == 0 {
		t.Fatal("no artifacts")
	}
	for _, a := range st.arts {
		if want := filepath.Join(wd, "data", "artifacts", "1", a.Name); a.Path != want {
			t.Fatalf("artifact %s at %q, want %q", a.Name, a.Path, want)
		}
	}
}
