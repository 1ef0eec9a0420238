package docker

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// dockerfile is a build context of one Dockerfile.
type dockerfile string

func (d dockerfile) ContextHash() string { return "test" }
func (d dockerfile) SpecHash() string    { return "test" }
func (d dockerfile) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(d))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, string(d)); err != nil {
		return err
	}
	return tw.Close()
}

func engine(t *testing.T) *Engine {
	t.Helper()
	ctx := context.Background()
	e, err := Connect(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() { e.Close() })
	if ok, err := e.HasImage(ctx, "debian:bookworm"); err != nil || !ok {
		t.Fatalf("base image debian:bookworm missing (bot base import debian:bookworm): %v", err)
	}
	return e
}

// TestBuildLimits runs the attacks a postInstall script can make on the
// worker — a fork bomb, a memory hog — against the real engine.
func TestBuildLimits(t *testing.T) {
	e := engine(t)
	cases := []struct {
		name   string
		limits BuildLimits
		run    string
		fails  bool
	}{
		{name: "processes past the pids limit cannot be forked", limits: BuildLimits{Pids: 40},
			run: `i=0; while [ $i -lt 120 ]; do sleep 3 & i=$((i+1)); done; wait`, fails: true},
		{name: "the same processes without a limit", limits: BuildLimits{},
			run: `i=0; while [ $i -lt 120 ]; do sleep 3 & i=$((i+1)); done; wait`},
		{name: "memory past the limit is refused", limits: BuildLimits{MemoryBytes: 64 << 20},
			run: `x=$(head -c 300000000 /dev/zero | tr '\0' x); echo ${#x}`, fails: true},
		{name: "memory within the limit", limits: BuildLimits{MemoryBytes: 256 << 20, CPUs: 1},
			run: `x=$(head -c 20000000 /dev/zero | tr '\0' x); echo ${#x}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.Limits = tc.limits
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tag := "linux-builder-limits-test:" + string(rune('a'+i))
			var lines []string
			id, err := e.Build(ctx, pipeline.BuildRequest{Context: dockerfile("FROM debian:bookworm\nRUN " + tc.run + "\n"), Tag: tag},
				func(l string) { lines = append(lines, l) })
			if id != "" {
				t.Cleanup(func() { _ = e.Remove(context.Background(), id) })
			}
			if tc.fails && err == nil {
				t.Fatalf("the build succeeded past its limits:\n%s", strings.Join(lines, "\n"))
			}
			if !tc.fails && err != nil {
				t.Fatalf("the build failed within its limits: %v", err)
			}
			// The build's parent cgroup is gone afterwards.
			left, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", buildCgroupsDir, "linux-builder-limits-test_*"))
			left2, _ := filepath.Glob(filepath.Join(cgroupRoot, buildCgroupsDir, "linux-builder-limits-test_*"))
			if len(left)+len(left2) > 0 {
				t.Errorf("cgroups left behind: %v %v", left, left2)
			}
		})
	}
}

// A build asked to be fresh takes no layer from the engine's cache; the
// same build without it does.
func TestNoCacheBuildUsesNoCachedLayer(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctxFile := dockerfile("FROM debian:bookworm\nRUN echo linux-builder-no-cache-test > /marker\n")
	build := func(noCache bool) []string {
		t.Helper()
		var lines []string
		id, err := e.Build(ctx, pipeline.BuildRequest{Context: ctxFile, Tag: "linux-builder-nocache-test:latest", NoCache: noCache},
			func(l string) { lines = append(lines, l) })
		if err != nil {
			t.Fatalf("build (no cache %v): %v", noCache, err)
		}
		t.Cleanup(func() { _ = e.Remove(context.Background(), id) })
		return lines
	}
	build(false)
	if again := strings.Join(build(false), "\n"); !strings.Contains(again, "Using cache") {
		t.Fatalf("the same build again used no cache:\n%s", again)
	}
	if fresh := strings.Join(build(true), "\n"); strings.Contains(fresh, "Using cache") {
		t.Fatalf("a fresh build used the cache:\n%s", fresh)
	}
}
