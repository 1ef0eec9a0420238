package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// realEngine connects to the local Docker engine and checks the offline
// base image and the ISO and boot tools. Under CI=true anything missing
// fails: scripts/setup.sh provides it all.
func realEngine(t *testing.T) *docker.Engine {
	t.Helper()
	need := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	ctx := context.Background()
	eng, err := docker.Connect(ctx)
	if err != nil {
		need("docker: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	if ok, err := eng.HasImage(ctx, "debian:bookworm"); err != nil || !ok {
		need("base image debian:bookworm missing (bot base import debian:bookworm): %v", err)
	}
	for _, tool := range []string{"tar2sqfs", "sqfs2tar", "grub-mkrescue", "xorriso", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			need("%s is not installed", tool)
		}
	}
	if _, err := os.Stat("/usr/share/OVMF/OVMF_CODE_4M.fd"); err != nil {
		need("OVMF is not installed")
	}
	return eng
}

// logWatch is a reporter that remembers log lines and states.
type logWatch struct {
	mu     sync.Mutex
	lines  []string
	states []run.State
	onLog  func(string)
}

func (w *logWatch) Transition(_ context.Context, _ int64, _, to run.State, _ string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.states = append(w.states, to)
}

func (w *logWatch) Log(_ context.Context, l pipeline.LogLine) {
	w.mu.Lock()
	w.lines = append(w.lines, l.Message)
	f := w.onLog
	w.mu.Unlock()
	if f != nil {
		f(l.Message)
	}
}

// testRepo tags this test process's images, so leftover checks see only
// them.
var testRepo = fmt.Sprintf("linux-builder-test-%d", os.Getpid())

func newRealPipeline(t *testing.T, db *store.DB, eng *docker.Engine, watch *logWatch, withISO bool) *pipeline.Pipeline {
	t.Helper()
	return newRealPipelineWith(t, db, eng, watch, withISO, nil)
}

// newRealPipelineWith is newRealPipeline with its configuration changed
// by set (when not nil) before the pipeline is made.
func newRealPipelineWith(t *testing.T, db *store.DB, eng *docker.Engine, watch *logWatch, withISO bool, set func(*pipeline.Config)) *pipeline.Pipeline {
	t.Helper()
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.Config{
		Store: pipelinestore.Store{DB: db}, Renderer: r.ForPipeline(render.Options{}), Builder: eng,
		Reporters: []pipeline.Reporter{watch}, ArtifactsDir: filepath.Join(t.TempDir(), "artifacts"), ImageRepo: testRepo,
	}
	if withISO {
		cfg.ISO = &iso.Builder{Exporter: eng}
		cfg.Boot = &boot.Tester{}
	}
	if set != nil {
		set(&cfg)
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func createRun(t *testing.T, db *store.DB, specPath string, src []byte) int64 {
	t.Helper()
	r := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: specPath, SpecSource: string(src)}
	if err := db.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// The product's promise, end to end on the real engine: minimal-debian
// becomes an image, an ISO, and boots to its marker under BIOS and UEFI;
// building it again is a cache hit.
func TestEndToEndMinimalDebian(t *testing.T) {
	eng := realEngine(t)
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	src, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	watch := &logWatch{}
	p := newRealPipeline(t, db, eng, watch, true)
	id := createRun(t, db, "minimal-debian.yaml", src)
	start := time.Now()
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	rn, _ := db.Run(ctx, id)
	arts, _ := db.Artifacts(ctx, id)
	if rn.Status != run.StatusSuccess || rn.FailureReason != "" {
		// The consoles say why a boot failed.
		for _, a := range arts {
			if a.Type == run.ArtifactBootLog {
				b, _ := os.ReadFile(a.Location)
				t.Logf("--- %s (tail) ---\n%s", a.Name, tail(b, 3000))
			}
		}
		t.Fatalf("run %s (%s): %s", rn.Status, rn.Step, rn.FailureReason)
	}
	byName := map[string]store.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	for _, name := range []string{"image.tar.zst", "linux.iso", "boot-bios.log", "boot-uefi.log", "boot-uefi-secureboot.log", "spec.json", "packages.txt"} {
		a, ok := byName[name]
		if !ok || a.Size == 0 || len(a.SHA256) != 64 {
			t.Fatalf("artifact %s missing or empty: %+v", name, a)
		}
	}
	// One export fed the ISO and the image artifact.
	watch.mu.Lock()
	flat := strings.Contains(strings.Join(watch.lines, "\n"), "image.tar.zst: flattened image (one layer) from the ISO step's export")
	watch.mu.Unlock()
	if !flat {
		t.Error("image.tar.zst was not written from the ISO step's export")
	}
	// The image's installed packages, read from its dpkg database.
	if b, err := os.ReadFile(byName["packages.txt"].Location); err != nil || byName["packages.txt"].Type != run.ArtifactManifest ||
		!strings.Contains(string(b), "\nlive-boot\t") || !strings.Contains(string(b), "\nlinux-image-") {
		t.Fatalf("packages.txt (%v):\n%.2000s", err, b)
	}
	for _, fw := range []string{"bios", "uefi", "uefi-secureboot"} {
		b, err := os.ReadFile(byName["boot-"+fw+".log"].Location)
		if err != nil || !strings.Contains(string(b), "LINUX-BUILDER-BOOT-OK run=") {
			t.Fatalf("%s serial log has no marker (%v)", fw, err)
		}
		// The image has no SSH host keys: the machine starts making its
		// own early (systemd's status line shows the unit's description;
		// ssh.service, after it, and the marker, after multi-user.target,
		// come once systemd stopped writing status lines to the console
		// the serial getty holds).
		if !strings.Contains(string(b), "this machine's SSH host keys") {
			t.Errorf("%s serial log: linux-builder-ssh-keygen.service did not start", fw)
		}
		// Secure Boot was on, and enforced, for the one boot that asked
		// for it: Debian's kernel says so, and GRUB ran locked down.
		sb := fw == "uefi-secureboot"
		for _, line := range []string{"secureboot: Secure boot enabled", pipeline.SecureBootGRUBLine} {
			if strings.Contains(string(b), line) != sb {
				t.Errorf("%s serial log: %q present = %v", fw, line, !sb)
			}
		}
	}
	watch.mu.Lock()
	for _, l := range watch.lines {
		if strings.Contains(l, "passed: marker after") || strings.HasPrefix(l, "boot tests:") || strings.Contains(l, "the kernel said") {
			t.Log(l)
		}
	}
	markerTook := longestMarker(t, strings.Join(watch.lines, "\n"))
	watch.mu.Unlock()
	steps, _ := db.Steps(ctx, id)
	for _, s := range steps {
		t.Logf("%-15s %s %6.1fs", s.Step, s.Status, float64(s.DurationMS)/1000)
	}
	t.Logf("cold run: %s", time.Since(start).Round(time.Second))
	userBootStaysUp(t, byName["linux.iso"].Location, markerTook)

	// The same spec again: nothing is rebuilt.
	id2 := createRun(t, db, "minimal-debian.yaml", src)
	start = time.Now()
	if err := p.Run(ctx, id2); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	run2, _ := db.Run(ctx, id2)
	steps2, _ := db.Steps(ctx, id2)
	var names []string
	for _, s := range steps2 {
		names = append(names, string(s.Step))
	}
	if run2.Status != run.StatusSuccess || strings.Join(names, ",") != "VALIDATING,GENERATING" {
		t.Fatalf("second run %s with steps %v: not a cache hit", run2.Status, names)
	}
	arts2, _ := db.Artifacts(ctx, id2)
	if len(arts2) != len(arts) {
		t.Fatalf("cache hit recorded %d artifacts, want %d", len(arts2), len(arts))
	}
	t.Logf("warm run (cache hit): %s", warm.Round(time.Millisecond))
}

// A RUN that fails (a package that does not exist) ends FAILED with the
// package manager's error in the reason, and leaves no image behind.
func TestFailingRunReportsThePackageManagersError(t *testing.T) {
	eng := realEngine(t)
	since := time.Now()
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	src := []byte("base: debian\npackages: [linux-builder-no-such-package]\n")
	p := newRealPipeline(t, db, eng, &logWatch{}, false)
	id := createRun(t, db, "broken.yaml", src)
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	rn, _ := db.Run(ctx, id)
	if rn.Status != run.StatusFailed || rn.Step != "FAILED" || !strings.Contains(rn.FailureReason, "Unable to locate package linux-builder-no-such-package") {
		t.Fatalf("run %s/%s: %q", rn.Status, rn.Step, rn.FailureReason)
	}
	if c, i, err := eng.Leftovers(ctx, testRepo, since); err != nil || c != 0 || i != 0 {
		t.Fatalf("leftovers: %d containers, %d images (%v)", c, i, err)
	}
}

// Cancelling mid-build stops the build and leaves no containers, no
// run-labelled images and no temporary directories.
func TestCancelMidBuildCleansUp(t *testing.T) {
	eng := realEngine(t)
	since := time.Now()
	db := storetest.SQLite(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before, err := eng.Client().ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	src := []byte("base: debian\npostInstall:\n  scripts: [\"echo linux-builder-slow-step; sleep 600\"]\n")
	watch := &logWatch{}
	var once sync.Once
	watch.onLog = func(line string) {
		if strings.Contains(line, "linux-builder-slow-step") {
			once.Do(func() { time.AfterFunc(2*time.Second, cancel) })
		}
	}
	p := newRealPipeline(t, db, eng, watch, false)
	id := createRun(t, db, "slow.yaml", src)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, id) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Minute):
		t.Fatal("the build did not stop after cancellation")
	}
	rn, _ := db.Run(context.Background(), id)
	if rn.Status != run.StatusCancelled {
		t.Fatalf("run %s: %s", rn.Status, rn.FailureReason)
	}
	// The engine removes the build's container a moment after the client
	// goes away.
	deadline := time.Now().Add(60 * time.Second)
	for {
		after, err := eng.Client().ContainerList(context.Background(), container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(after) <= len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers before the build, %d after", len(before), len(after))
		}
		time.Sleep(time.Second)
	}
	if c, i, err := eng.Leftovers(context.Background(), testRepo, since); err != nil || c != 0 || i != 0 {
		t.Fatalf("leftovers: %d containers, %d images (%v)", c, i, err)
	}
	entries, _ := filepath.Glob(filepath.Join(os.TempDir(), ".iso-work-*"))
	if len(entries) != 0 {
		t.Fatalf("temporary directories left: %v", entries)
	}
}

// A push to a registry that is not there fails with an error (and the
// pipeline then falls back to the tar: TestPushFallsBackToTheTar).
func TestPushToUnreachableRegistryFails(t *testing.T) {
	eng := realEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := "127.0.0.1:9/linux-builder/push-test:1"
	err := eng.Push(ctx, "debian:bookworm", ref, docker.Credentials{Username: "u", Password: "p"}, func(string) {})
	if err == nil {
		t.Fatal("push to 127.0.0.1:9 succeeded")
	}
	t.Logf("push failed as expected: %v", err)
	_ = eng.Remove(context.Background(), ref)
}

// userBootStaysUp boots the published ISO as a user's machine would
// (without the boot test's SMBIOS signal): the system comes up to a login
// prompt and stays up. The marker, were it armed, would print and power
// the machine off.
func userBootStaysUp(t *testing.T, iso string, markerTook time.Duration) {
	t.Helper()
	userBootReaches(t, iso, markerTook, "login:")
}

// userBootGrace is how long a user's boot is watched past both the moment
// the system is up and the time the armed marker took in the boot test.
const userBootGrace = 30 * time.Second

// userBootReaches is userBootStaysUp with what the console must show
// instead of a login prompt (an init without a serial getty). markerTook
// is the longest time to marker of the run's boot test (whose machines
// shared the host, so slower than this one): the user's machine is
// watched until it is up and for userBootGrace past the later of the two
// moments, long enough for an armed marker to have printed.
func userBootReaches(t *testing.T, iso string, markerTook time.Duration, up string) {
	t.Helper()
	limit := 2*markerTook + 150*time.Second
	serial := filepath.Join(t.TempDir(), "user-boot.log")
	// The tester copies the console to serial once QEMU is gone; while
	// it runs, the console is in the tester's directory under TMPDIR (a
	// directory of this test's, which QEMU, run as nobody, can enter).
	tmp, err := os.MkdirTemp("", "user-boot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	upAfter := make(chan time.Duration, 1)
	go func() {
		// Watch the console for up; stop the machine userBootGrace
		// after it is up and past markerTook.
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			live, _ := filepath.Glob(filepath.Join(tmp, "linux-builder-boot-*", "serial.log"))
			if len(live) != 1 {
				continue
			}
			if b, _ := os.ReadFile(live[0]); strings.Contains(string(b), up) {
				took := time.Since(start)
				upAfter <- took
				select {
				case <-ctx.Done():
				case <-time.After(max(took, markerTook) - took + userBootGrace):
					cancel()
				}
				return
			}
		}
	}()
	_, err = (&boot.Tester{AsUser: true}).Boot(ctx, pipeline.BootRequest{ISO: iso,
		Marker: "LINUX-BUILDER-BOOT-OK", Firmware: pipeline.UEFI, SerialLog: serial, Timeout: limit}, func(string) {})
	watched := time.Since(start)
	cancel()
	b, _ := os.ReadFile(serial)
	if err == nil || strings.Contains(string(b), "LINUX-BUILDER-BOOT-OK") {
		t.Fatalf("a user's boot of the published ISO printed the boot-test marker (and powered off):\n%s", tail(b, 1500))
	}
	if strings.Contains(string(b), pipeline.BootTestParam) {
		t.Fatalf("a user's boot of the published ISO has %s on its console (the gate armed the marker):\n%s", pipeline.BootTestParam, tail(b, 1500))
	}
	var upTook time.Duration
	select {
	case upTook = <-upAfter:
	default:
		t.Fatalf("a user's boot of the published ISO did not show %q in %s (%v):\n%s", up, limit, err, tail(b, 1500))
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a user's boot of the published ISO: %v (want it still up %s after %q):\n%s", err, userBootGrace, up, tail(b, 1500))
	}
	t.Logf("user boot: up (%q on the console) after %s, no marker in %s (the boot test's marker took %s)",
		up, upTook.Round(time.Second), watched.Round(time.Second), markerTook)
}

// longestMarker is the longest time to marker the boot test logged.
func longestMarker(t *testing.T, lines string) time.Duration {
	t.Helper()
	var longest time.Duration
	for _, m := range markerAfter.FindAllStringSubmatch(lines, -1) {
		d, err := time.ParseDuration(m[2])
		if err != nil {
			t.Fatalf("marker time %q: %v", m[2], err)
		}
		longest = max(longest, d)
	}
	if longest == 0 {
		t.Fatal("the boot test logged no marker time")
	}
	return longest
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
