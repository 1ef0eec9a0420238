package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// A run that completes writes build.log (its whole log) and SHA256SUMS
// (of every file artifact, build.log included) into its own directory and
// records both with their size and digest; a run that fails writes
// neither.
func TestCompletedRunWritesItsLogAndChecksums(t *testing.T) {
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fakeBoot{})
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(p.cfg.ArtifactsDir, "1")
	got := map[string]Artifact{}
	for _, a := range st.arts {
		got[a.Name] = a
	}
	for _, name := range []string{BuildLogName, ChecksumsName} {
		a, ok := got[name]
		if !ok {
			t.Fatalf("%s not recorded: %+v", name, st.arts)
		}
		b, err := os.ReadFile(a.Path)
		if err != nil || a.Path != filepath.Join(dir, name) {
			t.Fatalf("%s at %q: %v", name, a.Path, err)
		}
		sum := sha256.Sum256(b)
		if a.Size != int64(len(b)) || a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s recorded with size %d and sha256 %s; the file has %d bytes", name, a.Size, a.SHA256, len(b))
		}
	}
	if got[BuildLogName].Type != run.ArtifactLog || got[ChecksumsName].Type != run.ArtifactChecksum {
		t.Fatalf("types %s and %s", got[BuildLogName].Type, got[ChecksumsName].Type)
	}
	log, _ := os.ReadFile(got[BuildLogName].Path)
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(lines) != len(st.logs) || len(lines) == 0 {
		t.Fatalf("build.log has %d lines, the run's log %d", len(lines), len(st.logs))
	}
	first := st.logs[0]
	if !strings.Contains(lines[0], string(first.Step)) || !strings.HasSuffix(lines[0], " "+first.Message) {
		t.Fatalf("build.log's first line %q, want step %s and %q", lines[0], first.Step, first.Message)
	}
	sums, _ := os.ReadFile(got[ChecksumsName].Path)
	var want []string
	for _, a := range st.arts {
		if a.Type != run.ArtifactChecksum {
			want = append(want, a.SHA256+"  "+a.Name)
		}
	}
	for _, w := range want {
		if !strings.Contains(string(sums), w+"\n") {
			t.Fatalf("SHA256SUMS lacks %q:\n%s", w, sums)
		}
	}
	if n := strings.Count(string(sums), "\n"); n != len(want) {
		t.Fatalf("SHA256SUMS has %d lines, want %d:\n%s", n, len(want), sums)
	}

	p, st, _ = newTestPipeline(t, goodSpec, &fakeBuilder{fail: errors.New("exit 1")}, fakeISO{}, fakeBoot{})
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for _, a := range st.arts {
		if a.Name == BuildLogName || a.Name == ChecksumsName {
			t.Fatalf("a failed run recorded %s", a.Name)
		}
	}
	for _, name := range []string{BuildLogName, ChecksumsName} {
		if _, err := os.Stat(filepath.Join(p.cfg.ArtifactsDir, "1", name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed run wrote %s: %v", name, err)
		}
	}
}

// An image reference (a registry name) has no place in SHA256SUMS; a file
// recorded without its digest is hashed.
func TestChecksumLines(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.iso")
	if err := os.WriteFile(f, []byte("iso"), 0o640); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("iso"))
	lines, err := checksumLines([]Artifact{
		{Name: "image-ref", Type: run.ArtifactImageRef, Path: "registry.example/i:run-1"},
		{Name: "x.iso", Type: run.ArtifactISO, Path: f},
		{Name: "b.tar", Type: run.ArtifactImage, SHA256: "bb"},
		{Name: "SHA256SUMS", Type: run.ArtifactChecksum, SHA256: "cc"},
	})
	want := []string{"bb  b.tar\n", hex.EncodeToString(sum[:]) + "  x.iso\n"}
	if err != nil || strings.Join(lines, "") != strings.Join(want, "") {
		t.Fatalf("lines %q (%v), want %q", lines, err, want)
	}
}
