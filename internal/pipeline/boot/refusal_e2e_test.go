package boot_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
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

// unsignedImage "exports" a system without the signed boot chain: its ISO
// gets the host's GRUB as its UEFI loader, which no key in Microsoft's
// db signed.
type unsignedImage struct{}

func (unsignedImage) Export(_ context.Context, _ string, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range []struct{ name, body string }{
		{"etc/", ""}, {"etc/linux-builder/", ""}, {"boot/", ""}, {"bin/", ""}, {"bin/sh", "#!shell"},
		{"etc/linux-builder/boot-files", "KERNEL=/boot/vmlinuz-6.1.0-amd64\nINITRD=/boot/initrd.img-6.1.0-amd64\nINITRAMFS=initramfs-tools\nINIT=systemd\n"},
		{"boot/vmlinuz-6.1.0-amd64", "not a kernel"}, {"boot/initrd.img-6.1.0-amd64", "not an initramfs"},
	} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// The Secure Boot machine really enforces: an ISO whose UEFI loader is
// not signed (GRUB from the host, as every ISO had before the signed
// chain) is refused by the firmware, which says "Access Denied", and
// GRUB never runs; the same ISO on the plain UEFI machine starts GRUB and
// shows its menu, so the refusal is Secure Boot's and not a broken ISO.
func TestSecureBootRefusesAnUnsignedBootLoader(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "grub-mkrescue", "xorriso", "tar2sqfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, "%s is not installed (scripts/setup.sh)", tool)
		}
	}
	for _, fd := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"} {
		if _, err := os.Stat("/usr/share/OVMF/" + fd); err != nil {
			need(t, "OVMF is not installed (scripts/setup.sh): %v", err)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "linux.iso")
	var built []string
	if err := (&iso.Builder{Exporter: unsignedImage{}}).Build(context.Background(), pipeline.ISORequest{Image: "unsigned", Output: out, VolumeID: "LINUXBUILDER",
		Marker: "LINUX-BUILDER-BOOT-OK run=1"}, func(l string) { built = append(built, l) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(built, "\n"), "UEFI machines boot the ISO only with Secure Boot off") {
		t.Fatalf("the ISO step did not say the ISO is unsigned: %q", built)
	}
	for _, tc := range []struct {
		fw      pipeline.Firmware
		timeout time.Duration
		want    error
		console string // what the console must show
		never   string // and must not
	}{
		{pipeline.UEFISecureBoot, 300 * time.Second, boot.ErrSecureBootRefused, "): Access Denied", "Linux Builder live"},
		// GRUB's menu is up seconds after the firmware (the refusal above
		// comes 5 s in under TCG); the boot waits out its timeout, as no
		// marker comes, so it is kept short.
		{pipeline.UEFI, 45 * time.Second, boot.ErrNoMarker, "Linux Builder live", "Access Denied"},
	} {
		t.Run(string(tc.fw), func(t *testing.T) {
			serial := filepath.Join(dir, "boot-"+string(tc.fw)+".log")
			start := time.Now()
			_, err := (&boot.Tester{}).Boot(context.Background(), pipeline.BootRequest{ISO: out, Marker: "LINUX-BUILDER-BOOT-OK run=1",
				Firmware: tc.fw, SerialLog: serial, Timeout: tc.timeout}, func(l string) { t.Log(l) })
			console, _ := os.ReadFile(serial)
			if !errors.Is(err, tc.want) {
				t.Fatalf("boot: %v, want %v\n--- serial ---\n%s", err, tc.want, console)
			}
			if !strings.Contains(string(console), tc.console) || strings.Contains(string(console), tc.never) {
				t.Fatalf("the console should show %q and not %q:\n%s", tc.console, tc.never, console)
			}
			t.Logf("%s: %v after %s", tc.fw, err, time.Since(start).Round(100*time.Millisecond))
		})
	}
}
