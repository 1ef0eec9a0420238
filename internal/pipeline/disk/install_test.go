package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// fakeInstaller installs as a machine would: a disk of the size asked,
// "INSTALLED" at its start (or what its fields say instead).
type fakeInstaller struct {
	calls    int
	iso      string
	size     int64
	err      error
	wrongLen int64 // write a disk of this size instead
}

func (f *fakeInstaller) InstallDisk(_ context.Context, iso, disk string, size int64, log func(string)) error {
	f.calls++
	f.iso, f.size = iso, size
	if f.err != nil {
		return f.err
	}
	if f.wrongLen > 0 {
		size = f.wrongLen
	}
	fd, err := os.Create(disk)
	if err != nil {
		return err
	}
	if _, err := fd.WriteAt([]byte("INSTALLED"), 0); err != nil {
		return err
	}
	if err := fd.Truncate(size); err != nil {
		return err
	}
	log("install: done")
	return fd.Close()
}

func installRequest(t *testing.T) (pipeline.DiskRequest, string) {
	t.Helper()
	dir := t.TempDir()
	iso := filepath.Join(dir, "linux.iso")
	if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	return pipeline.DiskRequest{ISO: iso, Output: filepath.Join(dir, "linux.raw"), Size: 4 << 30}, dir
}

// A disk installed from the ISO is the raw image, its boot-test copy and
// its qcow2: the same bytes, of the size asked.
func TestBuildByInstallWritesTheInstalledDisk(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatalf("qemu-img (package qemu-utils) is needed: %v", err)
	}
	req, dir := installRequest(t)
	req.QCOW2 = filepath.Join(dir, "linux.qcow2")
	req.Marker, req.BootTestOutput = "LINUX-BUILDER-BOOT-OK run=1 x", filepath.Join(dir, "boot-test.raw")
	inst := &fakeInstaller{}
	var log []string
	res, err := (&Builder{Installer: inst}).Build(context.Background(), req, func(l string) { log = append(log, l) })
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if inst.calls != 1 || inst.iso != req.ISO || inst.size != 4<<30 {
		t.Errorf("installer called %d times with %q, %d bytes", inst.calls, inst.iso, inst.size)
	}
	if res.Size != 4<<30 {
		t.Errorf("result size %d", res.Size)
	}
	for _, p := range []string{req.Output, req.BootTestOutput} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 9)
		_, _ = f.ReadAt(head, 0)
		info, _ := f.Stat()
		f.Close()
		if !bytes.Equal(head, []byte("INSTALLED")) || info.Size() != 4<<30 {
			t.Errorf("%s: %q, %d bytes", p, head, info.Size())
		}
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", req.QCOW2).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"format": "qcow2"`) || !strings.Contains(string(out), `"virtual-size": 4294967296`) {
		t.Errorf("qcow2: %v\n%s", err, out)
	}
	if !strings.Contains(strings.Join(log, "\n"), "disk: installed by linux-builder-install in") {
		t.Errorf("log:\n%s", strings.Join(log, "\n"))
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// What cannot be installed fails before or after the machine, clearly,
// and leaves no output.
func TestBuildByInstallRefuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*pipeline.DiskRequest, *Builder)
		calls int
		want  string
	}{
		{"no installer", func(_ *pipeline.DiskRequest, b *Builder) { b.Installer = nil }, 0, "no installer (QEMU) configured"},
		{"no size", func(r *pipeline.DiskRequest, _ *Builder) { r.Size = 0 }, 0, "needs its size"},
		{"too small", func(r *pipeline.DiskRequest, _ *Builder) { r.Size = 1 << 30 }, 0, "too small a disk to install on"},
		{"over the cap", func(r *pipeline.DiskRequest, b *Builder) { b.MaxDiskBytes = 3 << 30 }, 0, "over the cap"},
		{"no ISO", func(r *pipeline.DiskRequest, _ *Builder) { r.ISO = filepath.Join(filepath.Dir(r.ISO), "missing.iso") }, 0, "the live ISO to install from"},
		{"a marker without a boot-test copy", func(r *pipeline.DiskRequest, _ *Builder) { r.Marker = "m" }, 0, "marker without a boot-test output"},
		{"the install fails", func(_ *pipeline.DiskRequest, b *Builder) {
			b.Installer = &fakeInstaller{err: errors.New("linux-builder-install: error: /dev/vda is too small")}
		}, 1, "installing the system from the live ISO: linux-builder-install: error: /dev/vda is too small"},
		{"a disk of another size", func(_ *pipeline.DiskRequest, b *Builder) { b.Installer = &fakeInstaller{wrongLen: 5 << 30} }, 1, "not the 4294967296 it was made with"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, dir := installRequest(t)
			req.QCOW2 = filepath.Join(dir, "linux.qcow2")
			b := &Builder{Installer: &fakeInstaller{}}
			tc.edit(&req, b)
			_, err := b.Build(context.Background(), req, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if f, ok := b.Installer.(*fakeInstaller); ok && f.calls != tc.calls {
				t.Errorf("installer called %d times, want %d", f.calls, tc.calls)
			}
			for _, p := range []string{req.Output, req.QCOW2, req.Output + ".part"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("left %s (%v)", p, err)
				}
			}
		})
	}
}
