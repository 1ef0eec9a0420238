package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// On the real engine: minimal-debian builds (or reuses) its shared system
// image; a new spec with other packages then reuses that image as it is
// (same image ID, no system build in its log) and builds its own image,
// whose file system has neither dpkg's build-only unsafe I/O setting nor
// apt's package lists, and no man pages.
func TestNewSpecReusesTheSystemImage(t *testing.T) {
	eng := realEngine(t)
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	build := func(name, src string) (lines []string, image string) {
		t.Helper()
		watch := &logWatch{}
		p, err := pipeline.New(pipeline.Config{
			Store: pipelinestore.Store{DB: db}, Renderer: r.ForPipeline(render.Options{}), Builder: eng,
			Reporters: []pipeline.Reporter{watch}, ArtifactsDir: filepath.Join(t.TempDir(), "artifacts"),
			ImageRepo: testRepo, KeepImage: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		id := createRun(t, db, name, []byte(src))
		if err := p.Run(ctx, id); err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("%s:%d", testRepo, id)
		t.Cleanup(func() { _ = eng.Remove(context.Background(), tag) })
		watch.mu.Lock()
		defer watch.mu.Unlock()
		rn, _ := db.Run(ctx, id)
		if rn.Step != "COMPLETE" {
			t.Fatalf("%s ended %s: %s\n%s", name, rn.Step, rn.FailureReason, strings.Join(watch.lines, "\n"))
		}
		return append([]string(nil), watch.lines...), tag
	}
	base, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	linesA, _ := build("minimal-debian.yaml", string(base))
	sysTag := systemTagIn(t, linesA)
	before, found, err := eng.InspectImage(ctx, sysTag)
	if err != nil || !found {
		t.Fatalf("system image %s after the first build: found %v, %v", sysTag, found, err)
	}
	if before.Labels[pipeline.LabelSystemBaseID] == "" || before.Labels[pipeline.LabelSystemBuilt] == "" {
		t.Errorf("system image labels %v", before.Labels)
	}

	// A new spec: another name, other packages, a postInstall script.
	newSpec := strings.Replace(string(base), "name: minimal-debian", fmt.Sprintf("name: fresh-spec-%d", os.Getpid()), 1)
	newSpec = strings.Replace(newSpec, "  - less\n", "  - less\n  - jq\n  - man-db\n", 1)
	newSpec += "postInstall:\n  scripts:\n    - name: check.sh\n      run: test -e /etc/dpkg/dpkg.cfg.d/90linux-builder-unsafe-io && command -v jq\n"
	linesB, imageB := build("new-spec.yaml", newSpec)
	for _, l := range linesB {
		if strings.HasPrefix(l, "building the shared system image") || strings.HasPrefix(l, "system image | ") {
			t.Fatalf("the new spec rebuilt the system image: %s", l)
		}
	}
	if systemTagIn(t, linesB) != sysTag {
		t.Fatal("the new spec has another system image")
	}
	after, _, err := eng.InspectImage(ctx, sysTag)
	if err != nil || after.ID != before.ID {
		t.Fatalf("system image %s → %s (%v)", before.ID, after.ID, err)
	}
	// apt's lists were served from the system image: no refresh.
	for _, l := range linesB {
		if strings.Contains(l, "InRelease") || strings.Contains(l, " Packages ") {
			t.Errorf("the package layer refreshed the index: %s", l)
		}
	}
	out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", imageB, "-c",
		// One stream, answers on lines of their own: docker run's stdout
		// and stderr interleave at random.
		"ls /etc/dpkg/dpkg.cfg.d/ /var/lib/apt/lists/ 2>&1; "+
			"test -e /usr/share/man/man1/jq.1.gz && echo man=yes || echo man=no; "+
			"test -e /usr/share/doc/jq/copyright && echo copyright=yes || echo copyright=no; command -v jq; "+
			// The initramfs is zstd (magic 28 b5 2f fd), not gzip's fallback.
			"for f in /boot/initrd.img-*; do echo initrd=$(od -An -tx1 -N4 \"$f\" | tr -d ' '); done").Output()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "unsafe") || strings.Contains(text, "Packages") || strings.Contains(text, "InRelease") {
		t.Errorf("the final image carries build-only files:\n%s", text)
	}
	// jq's man page is left out, its copyright file kept.
	if !strings.Contains(text, "90linux-builder-nodoc") || !strings.Contains(text, "\nman=no\n") ||
		!strings.Contains(text, "\ncopyright=yes\n") || !strings.Contains(text, "/usr/bin/jq") {
		t.Errorf("the final image's documentation setting or packages:\n%s", text)
	}
	if !strings.Contains(text, "\ninitrd=28b52ffd\n") {
		t.Errorf("the initramfs is not zstd-compressed (initramfs-tools fell back to gzip?):\n%s", text)
	}
}

// systemTagIn finds the system image tag a run's log names.
func systemTagIn(t *testing.T, lines []string) string {
	t.Helper()
	for _, l := range lines {
		for _, prefix := range []string{"reusing the shared system image ", "building the shared system image "} {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.Fields(rest)[0]
			}
		}
	}
	t.Fatalf("no system image in the log:\n%s", strings.Join(lines, "\n"))
	return ""
}
