package disk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
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
// minimal-debian with outputs: [qcow2, raw] goes through the pipeline,
// which skips the ISO, makes linux.qcow2 and linux.raw.zst (with their
// sha256) and boots the disk under UEFI (OVMF), BIOS (SeaBIOS) and UEFI
// with Secure Boot enforced (OVMF's secboot build, Microsoft's keys), up
// to two at a time, each machine on its own copy, from its own GPT, ESP
// and GRUB (the image's signed shim and GRUB under UEFI) to the marker,
// which only the boot test's copy of the disk arms.
func TestMinimalDebianDiskBootsUnderUEFIAndBIOS(t *testing.T) {
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// With a /home partition (partition 4), which the system mounts, and
	// a swap partition (5), which it turns on.
	src = append(src, "filesystem:\n  partitions: [{mount: /home, size: 128M}, {mount: swap, size: 256M}]\n"...)
	d := runDiskSpec(t, src, []spec.Output{spec.OutputQCOW2, spec.OutputRaw})
	ctx, db, rr, watch, log, took, dir := context.Background(), d.db, d.run, d.watch, d.log, d.took, d.dir
	steps, err := db.Steps(ctx, rr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, fmt.Sprintf("%s %s", s.Step, (time.Duration(s.DurationMS)*time.Millisecond).Round(time.Second)))
		if s.Step == run.ISOGenerating {
			t.Errorf("the ISO step ran for a spec without iso among its outputs")
		}
	}
	t.Logf("run in %s: %s", took.Round(time.Second), strings.Join(names, ", "))

	arts, err := db.Artifacts(ctx, rr.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
		t.Logf("artifact %s (%s): %d bytes, sha256 %s", a.Name, a.Type, a.Size, a.SHA256)
	}
	for _, name := range []string{"linux.qcow2", "linux.raw.zst", "image.tar.zst", "boot-disk-uefi.log", "boot-disk-bios.log", "boot-disk-uefi-secureboot.log"} {
		a, ok := byName[name]
		if !ok {
			t.Fatalf("no artifact %s", name)
		}
		if a.SHA256 == "" || a.Size == 0 {
			t.Errorf("%s: no sha256 or size", name)
		}
	}
	if _, ok := byName["linux.iso"]; ok {
		t.Error("an ISO was made for outputs [qcow2, raw]")
	}
	for _, name := range []string{"linux.qcow2", "linux.raw.zst"} {
		if byName[name].Type != run.ArtifactDisk {
			t.Errorf("%s has type %s", name, byName[name].Type)
		}
	}

	// linux.raw.zst is the whole disk: a GPT, the qcow2's virtual size.
	raw, err := os.Open(byName["linux.raw.zst"].Location)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dec, err := zstd.NewReader(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(dec, head); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, dec)
	if err != nil {
		t.Fatalf("linux.raw.zst: %v", err)
	}
	rawSize := n + int64(len(head))
	if string(head[512:520]) != "EFI PART" || rawSize%(1<<20) != 0 {
		t.Errorf("linux.raw.zst: no GPT header at LBA 1, or %d bytes is not whole MiB", rawSize)
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", byName["linux.qcow2"].Location).Output()
	if err != nil {
		t.Fatal(err)
	}
	var qi struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &qi); err != nil || qi.Format != "qcow2" || qi.VirtualSize != rawSize {
		t.Errorf("linux.qcow2: %s (raw: %d bytes, %v)", info, rawSize, err)
	}
	t.Logf("disk: %d MiB; linux.raw.zst %d MB, linux.qcow2 %d MB", rawSize>>20, byName["linux.raw.zst"].Size/1e6, byName["linux.qcow2"].Size/1e6)

	// Every firmware booted the disk to the marker, from its ext4 root;
	// with Secure Boot on and enforced, through the image's signed shim
	// and GRUB (GRUB ran locked down) and Debian's signed kernel.
	for _, fw := range []string{"uefi", "bios", "uefi-secureboot"} {
		console, err := os.ReadFile(byName["boot-disk-"+fw+".log"].Location)
		if err != nil {
			t.Fatal(err)
		}
		wants := []string{fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d", rr.ID), "EXT4-fs (vda3)", "Kernel command line: BOOT_IMAGE=/EFI/linux-builder/vmlinuz root=UUID=",
			"EXT4-fs (vda4)", "k swap on /dev/vda5."} // the kernel's "Adding 262140k swap on /dev/vda5.  Priority:…"
		if fw == "uefi-secureboot" {
			wants = append(wants, "secureboot: Secure boot enabled", pipeline.SecureBootGRUBLine)
		} else if strings.Contains(string(console), "Secure boot enabled") {
			t.Errorf("%s: Secure Boot was on", fw)
		}
		for _, want := range wants {
			if !strings.Contains(string(console), want) {
				t.Errorf("%s: the console never said %q\n--- serial (tail) ---\n%s", fw, want, tail(string(console), 4000))
			}
		}
		if !strings.Contains(log, "boot test (disk, "+fw+") passed") {
			t.Errorf("no passed boot (disk, %s) in the run's log", fw)
		}
	}
	// The scratch is gone: no raw disk, no boot-test copies.
	if left, _ := filepath.Glob(filepath.Join(dir, fmt.Sprint(rr.ID), "*.raw")); len(left) > 0 {
		t.Errorf("raw disks left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprint(rr.ID), "work")); !os.IsNotExist(err) {
		t.Errorf("the work directory is left (%v)", err)
	}
	for _, l := range watch.l {
		if strings.HasPrefix(l, "boot tests:") || strings.Contains(l, "passed: marker after") {
			t.Log(l)
		}
	}
}

// diskRun is a finished pipeline run of a disk spec.
type diskRun struct {
	db    *store.DB
	run   *store.Run
	watch *lines
	log   string
	took  time.Duration
	dir   string // the artifacts directory
}

// runDiskSpec runs the pipeline on the real engine for src with outputs,
// booting the disk under every firmware the pipeline picks (Config's
// default set: BIOS, UEFI and UEFI with Secure Boot), and fails unless the
// run succeeds without a partial result.
func runDiskSpec(t *testing.T, src []byte, outputs []spec.Output) diskRun {
	t.Helper()
	return runSpec(t, src, outputs, nil)
}

// runSpec is runDiskSpec booting what it builds (the ISO, the disk) under
// firmwares, or under the pipeline's default set when nil.
func runSpec(t *testing.T, src []byte, outputs []spec.Output, firmwares []pipeline.Firmware) diskRun {
	t.Helper()
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "grub-mkstandalone", "grub-mkimage", "mformat", "mcopy", "e2fsck", "resize2fs", "tune2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, "%s is not installed (scripts/setup.sh)", tool)
		}
	}
	for _, fd := range []string{"OVMF_CODE_4M.fd", "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"} {
		if _, err := os.Stat("/usr/share/OVMF/" + fd); err != nil {
			need(t, "OVMF is not installed (scripts/setup.sh): %v", err)
		}
	}
	ctx := context.Background()
	eng, err := docker.Connect(ctx)
	if err != nil {
		need(t, "docker: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	if ok, err := eng.HasImage(ctx, "debian:bookworm"); err != nil || !ok {
		need(t, "base image debian:bookworm missing (bot base import debian:bookworm): %v", err)
	}

	db := storetest.SQLite(t, nil)
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	repo := fmt.Sprintf("linux-builder-disk-test-%d", os.Getpid())
	watch := &lines{}
	dir := filepath.Join(t.TempDir(), "artifacts")
	p, err := pipeline.New(pipeline.Config{
		Store: pipelinestore.Store{DB: db}, Renderer: r.ForPipeline(render.Options{}), Builder: eng,
		ISO:  &iso.Builder{Exporter: eng},
		Disk: &disk.Builder{Exporter: eng, Tools: eng}, Boot: &boot.Tester{}, BootTimeout: 600 * time.Second, MaxBoots: 2,
		Firmwares: firmwares,
		Reporters: []pipeline.Reporter{watch}, ArtifactsDir: dir, ImageRepo: repo,
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err = spec.SetOutputs("linux-build.yaml", src, outputs)
	if err != nil {
		t.Fatal(err)
	}
	rr := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "linux-build.yaml", SpecSource: string(src)}
	if err := db.CreateRun(ctx, rr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(ctx, rr.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rn, err := db.Run(ctx, rr.ID)
	if err != nil {
		t.Fatal(err)
	}
	watch.mu.Lock()
	log := strings.Join(watch.l, "\n")
	watch.mu.Unlock()
	if rn.Status != run.StatusSuccess || rn.PartialReason != "" {
		t.Fatalf("run %s (%s; partial: %s)\n%s", rn.Status, rn.FailureReason, rn.PartialReason, tail(log, 8000))
	}
	return diskRun{db: db, run: rr, watch: watch, log: log, took: took, dir: dir}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
