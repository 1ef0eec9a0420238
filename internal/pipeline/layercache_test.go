package pipeline_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// buildStep is one instruction of a build as its log shows it, and
// whether the engine took it from its layer cache.
type buildStep struct {
	instruction string
	cached      bool
}

var stepLine = regexp.MustCompile(`^Step \d+/\d+ : (.*)$`)

// buildSteps reads the steps of one build from its log lines.
func buildSteps(lines []string) []buildStep {
	var steps []buildStep
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if m := stepLine.FindStringSubmatch(l); m != nil {
			steps = append(steps, buildStep{instruction: m[1]})
			continue
		}
		if len(steps) > 0 && strings.Contains(l, "Using cache") {
			steps[len(steps)-1].cached = true
		}
	}
	return steps
}

// Editing a spec reuses every layer before the first the edit changes, on
// the real engine: a postInstall script added to minimal-debian rebuilds
// only the post-install layers and the spec's identity; one more package
// reuses the shared system image (the minute of dpkg most specs of a
// distribution share). Before the layer order was fixed, a LABEL with the
// spec's hash came second and every edit was a cold build.
func TestSpecEditsReuseTheLayerCache(t *testing.T) {
	eng := realEngine(t)
	db := storetest.SQLite(t, nil)
	base, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	build := func(name, src string) []buildStep {
		t.Helper()
		watch := &logWatch{}
		p := newRealPipeline(t, db, eng, watch, false)
		id := createRun(t, db, name, []byte(src))
		if err := p.Run(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		watch.mu.Lock()
		defer watch.mu.Unlock()
		steps := buildSteps(watch.lines)
		if len(steps) < 5 {
			t.Fatalf("%s: %d build steps in the log, want the Dockerfile's:\n%s", name, len(steps), strings.Join(watch.lines, "\n"))
		}
		return steps
	}
	build("minimal-debian.yaml", string(base)) // warm (a cache hit itself after the end-to-end test)

	withScript := string(base) + "postInstall:\n  scripts:\n    - name: motd.sh\n      run: |\n        echo 'layer cache test' > /etc/motd\n"
	steps := build("with-script.yaml", withScript)
	for _, s := range steps {
		if strings.HasPrefix(s.instruction, "COPY post-install/") {
			break
		}
		if strings.HasPrefix(s.instruction, "FROM") || strings.HasPrefix(s.instruction, "ENV") {
			continue
		}
		if !s.cached {
			t.Errorf("a postInstall edit rebuilt %q (every step before the post-install layer should come from the cache)", s.instruction)
		}
	}

	morePackages := strings.Replace(string(base), "  - less\n", "  - less\n  - htop\n", 1)
	if morePackages == string(base) {
		t.Fatal("the example's package list changed: update the test")
	}
	// One more package reuses the shared system image (the system layer
	// is its own image now) and builds from the package layer on.
	watch := &logWatch{}
	p := newRealPipeline(t, db, eng, watch, false)
	if err := p.Run(context.Background(), createRun(t, db, "more-packages.yaml", []byte(morePackages))); err != nil {
		t.Fatal(err)
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	reused := false
	for _, l := range watch.lines {
		reused = reused || strings.HasPrefix(l, "reusing the shared system image ")
		if strings.HasPrefix(l, "building the shared system image ") {
			t.Errorf("one more package rebuilt the system image: %s", l)
		}
	}
	if !reused {
		t.Errorf("one more package did not reuse the system image:\n%s", strings.Join(watch.lines, "\n"))
	}
}
