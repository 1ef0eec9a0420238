package disk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// need fails under CI=true (scripts/setup.sh provides everything) and
// skips elsewhere.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (w *lines) Transition(context.Context, int64, run.State, run.State, string) {}
func (w *lines) Log(_ context.Context, l pipeline.LogLine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.l = append(w.l, l.Message)
}

// The product's promise for disk images, end to end on the real engine:
// minimal-debian's image becomes linux.raw (and linux.qcow2), which boots
// under UEFI (OVMF) and BIOS (SeaBIOS) from its own GPT, ESP and GRUB to
// the marker, which only the boot test's copy of the disk arms.
func TestMinimalDebianDiskBootsUnderUEFIAndBIOS(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "grub-mkstandalone", "mformat", "mcopy", "e2fsck", "resize2fs", "tune2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, "%s is not installed (scripts/setup.sh)", tool)
		}
	}
	if _, err := os.Stat("/usr/share/OVMF/OVMF_CODE_4M.fd"); err != nil {
		need(t, "OVMF is not installed (scripts/setup.sh)")
	}
	ctx := context.Background()
	eng, err := docker.Connect(ctx)
	if err != nil {
		need(t, "docker: %v", err)
	}
	defer eng.Close()
	if ok, err := eng.HasImage(ctx, "debian:bookworm"); err != nil || !ok {
		need(t, "base image debian:bookworm missing (bot base import debian:bookworm): %v", err)
	}

	// The image, built by the pipeline (no ISO), kept in the engine.
	db := storetest.SQLite(t, nil)
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	repo := fmt.Sprintf("linux-builder-disk-test-%d", os.Getpid())
	watch := &lines{}
	p, err := pipeline.New(pipeline.Config{
		Store: pipelinestore.Store{DB: db}, Renderer: r.ForPipeline(render.Options{}), Builder: eng,
		Reporters: []pipeline.Reporter{watch}, ArtifactsDir: filepath.Join(t.TempDir(), "artifacts"),
		ImageRepo: repo, KeepImage: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rr := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "minimal-debian.yaml", SpecSource: string(src)}
	if err := db.CreateRun(ctx, rr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(ctx, rr.ID); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("%s:%d", repo, rr.ID)
	t.Cleanup(func() { _ = eng.Remove(context.Background(), tag) })
	if rn, _ := db.Run(ctx, rr.ID); rn.Status != run.StatusSuccess {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		t.Fatalf("image build %s: %s\n%s", rn.Status, rn.FailureReason, strings.Join(watch.l, "\n"))
	}
	t.Logf("image built in %s", time.Since(start).Round(time.Second))

	// The disk.
	dir := t.TempDir()
	marker := fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d", rr.ID)
	req := pipeline.DiskRequest{Image: tag, Output: filepath.Join(dir, "linux.raw"), QCOW2: filepath.Join(dir, "linux.qcow2"),
		Marker: marker, BootTestOutput: filepath.Join(dir, "boot-test.raw")}
	start = time.Now()
	res, err := (&disk.Builder{Exporter: eng}).Build(ctx, req, func(l string) { t.Log(l) })
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for _, f := range []string{req.Output, req.QCOW2} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		du, _ := exec.Command("du", "-k", f).Output()
		t.Logf("%s: %d MB apparent, %s KiB on disk", filepath.Base(f), info.Size()/1e6, strings.Fields(string(du))[0])
	}
	t.Logf("disk built in %s (root UUID %s, %d MiB)", took.Round(100*time.Millisecond), res.RootUUID, res.Size>>20)

	// The boot test boots its copy under UEFI and a copy of that under
	// BIOS, at the same time (each machine writes to its disk); the
	// marker must appear on both consoles.
	biosDisk := filepath.Join(dir, "boot-test-bios.raw")
	if out, err := exec.Command("cp", "--sparse=always", req.BootTestOutput, biosDisk).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	type result struct {
		fw  pipeline.Firmware
		ttm time.Duration
		err error
	}
	results := make(chan result, 2)
	start = time.Now()
	for fw, img := range map[pipeline.Firmware]string{pipeline.UEFI: req.BootTestOutput, pipeline.BIOS: biosDisk} {
		go func() {
			ttm, err := (&boot.Tester{}).Boot(ctx, pipeline.BootRequest{Disk: img, Marker: marker, Firmware: fw,
				SerialLog: filepath.Join(dir, "boot-"+string(fw)+".log"), Timeout: 600 * time.Second, Concurrent: 2}, func(l string) { t.Log(l) })
			results <- result{fw, ttm, err}
		}()
	}
	for range 2 {
		r := <-results
		log, _ := os.ReadFile(filepath.Join(dir, "boot-"+string(r.fw)+".log"))
		if r.err != nil {
			t.Errorf("%s boot of the disk: %v\n--- serial (tail) ---\n%s", r.fw, r.err, tail(string(log), 4000))
			continue
		}
		t.Logf("%s: marker after %s", r.fw, r.ttm.Round(100*time.Millisecond))
		for _, want := range []string{"EXT4-fs (vda3)", "Kernel command line: BOOT_IMAGE=/EFI/linux-builder/vmlinuz root=UUID=" + res.RootUUID} {
			if !strings.Contains(string(log), want) {
				t.Errorf("%s: the console never said %q", r.fw, want)
			}
		}
	}
	t.Logf("boots (UEFI and BIOS at once): %s", time.Since(start).Round(time.Second))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
