package iso

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installedTar runs RewriteInstalled on a hand-made export and returns the
// installed system's entries by name, with their bodies.
func installedTar(t *testing.T, entries []ent, opt InstalledOptions) (*Installed, map[string]*tar.Header, map[string]string, error) {
	t.Helper()
	var in, out bytes.Buffer
	if err := (tarExporter{entries: entries}).Export(context.Background(), "", &in); err != nil {
		t.Fatal(err)
	}
	sys, err := RewriteInstalled(&in, &out, t.TempDir(), opt)
	if err != nil {
		return nil, nil, nil, err
	}
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if _, dup := hdrs[name]; dup {
			t.Errorf("%s twice in the installed system", name)
		}
		b, _ := io.ReadAll(tr)
		hdrs[name], bodies[name] = h, string(b)
	}
	return sys, hdrs, bodies, nil
}

const testFstab = "UUID=x / ext4 defaults 0 1\n"

// An installed system keeps /boot (its package manager owns it) and
// captures the kernel and initramfs from the stream; fstab, machine-id
// and the marker are the step's; the marker runs only when armed.
func TestRewriteInstalledKeepsBootAndOwnsFstab(t *testing.T) {
	sys, hdrs, bodies, err := installedTar(t, image(
		reg("etc/fstab", "/dev/sda1 / ext4 rw 0 0\n"),
		symlink("boot/efi", "/etc"), // a mount point the image made a link
		ent{name: "dev/sda", typ: tar.TypeBlock, major: 8},
		reg("../../escape", "x"),
	), InstalledOptions{Fstab: testFstab, Marker: "MARK-1", MountPoints: []string{"boot/efi"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sys.Kernel); string(b) != "KERNEL-BYTES" {
		t.Errorf("captured kernel %q", b)
	}
	if b, _ := os.ReadFile(sys.Initrd); string(b) != "INITRD-BYTES" {
		t.Errorf("captured initrd %q", b)
	}
	if sys.Cmdline != "quiet apparmor=1" || sys.Init != "systemd" || sys.Hostname != "box" {
		t.Errorf("records: %+v", sys)
	}
	if bodies["boot/vmlinuz-6.1.0-amd64"] != "KERNEL-BYTES" {
		t.Errorf("/boot lost its kernel: %q", bodies["boot/vmlinuz-6.1.0-amd64"])
	}
	if h := hdrs["boot/efi"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("/boot/efi is not a directory: %+v", h)
	}
	if bodies["etc/fstab"] != testFstab {
		t.Errorf("fstab %q", bodies["etc/fstab"])
	}
	if bodies["etc/machine-id"] != "" {
		t.Errorf("machine-id %q", bodies["etc/machine-id"])
	}
	unit := bodies[markerUnit]
	if !strings.Contains(unit, "ConditionKernelCommandLine="+BootTestParam) || !strings.Contains(unit, "echo MARK-1 > /dev/ttyS0") {
		t.Errorf("marker unit:\n%s", unit)
	}
	for _, gone := range []string{"dev/sda", "escape", "tmp/leftover", ".dockerenv"} {
		if _, ok := hdrs[gone]; ok {
			t.Errorf("%s is in the installed system", gone)
		}
	}
}

// The hostile cases of the kernel: a link to /etc/shadow, a link out of
// the root, a device, a file over the cap; each an error naming the
// record and never a host path.
func TestRewriteInstalledRefusesHostileKernels(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(outside, []byte("HOST-SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		kernel  ent
		lim     Limits
		want    string
		changes []ent
	}{
		{"link to /etc/shadow", symlink("boot/vmlinuz-6.1.0-amd64", "/etc/shadow"), Limits{}, "does not exist in the image",
			[]ent{reg("etc/shadow", "root:HASH:::")}},
		{"link to a host file", symlink("boot/vmlinuz-6.1.0-amd64", outside), Limits{}, "does not exist in the image", nil},
		{"link up and out", symlink("boot/vmlinuz-6.1.0-amd64", "../../../../../.."+outside), Limits{}, "does not exist in the image", nil},
		{"link to a record", symlink("boot/vmlinuz-6.1.0-amd64", "../etc/linux-builder/hostname"), Limits{}, "outside /boot", nil},
		{"character device", ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeChar, major: 1}, Limits{}, "does not exist", nil},
		{"over the cap", ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeReg, size: 2 << 20}, Limits{MaxBootFile: 1 << 20}, "over the limit", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := installedTar(t, image(append(tc.changes, tc.kernel)...), InstalledOptions{Fstab: testFstab, Limits: tc.lim})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "KERNEL") {
				t.Fatalf("error %v, want one about KERNEL with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "HOST-SECRET") || strings.Contains(err.Error(), "HASH") {
				t.Errorf("the error quotes a file's contents: %v", err)
			}
		})
	}
}

// A kernel over the capture cap is still part of the installed system
// (only its capture is refused), and the marker refuses shell and
// systemd specifier characters.
func TestRewriteInstalledBounds(t *testing.T) {
	_, hdrs, _, err := installedTar(t, image(ent{name: "boot/other-big", typ: tar.TypeReg, size: 2 << 20}),
		InstalledOptions{Fstab: testFstab, Limits: Limits{MaxBootFile: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if h := hdrs["boot/other-big"]; h == nil || h.Size != 2<<20 {
		t.Errorf("/boot/other-big: %+v", h)
	}
	for _, m := range []string{"a;reboot", "100%", "x'y"} {
		if _, _, _, err := installedTar(t, image(), InstalledOptions{Fstab: testFstab, Marker: m}); err == nil {
			t.Errorf("marker %q accepted", m)
		}
	}
}

// A disk whose UEFI boot loader cannot read the boot-test signal
// (systemd-boot) gets a drop-in that gates systemd's marker on the
// machine's SMBIOS Family itself, replacing the image's own file of that
// name; OpenRC's marker gets none (it stays unarmed there). The image's
// boot loaders are captured from the stream.
func TestRewriteInstalledMarkerReadsSMBIOS(t *testing.T) {
	for _, init := range []string{"systemd", "openrc"} {
		t.Run(init, func(t *testing.T) {
			boot := strings.Replace(bootFiles, "INIT=systemd", "INIT="+init, 1)
			sys, _, bodies, err := installedTar(t, image(append(signedChain(),
				reg("etc/linux-builder/boot-files", boot), dir("etc/systemd/system/linux-builder-boot-marker.service.d"),
				reg(markerSMBIOSDropIn, "[Unit]\nConditionKernelCommandLine=\n"), // the image's own: never kept
				dir("usr/lib/systemd"), dir("usr/lib/systemd/boot"), dir("usr/lib/systemd/boot/efi"),
				reg("usr/lib/systemd/boot/efi/systemd-bootx64.efi", "SD-BOOT"),
			)...), InstalledOptions{Fstab: testFstab, Marker: "MARK-2", MarkerReadsSMBIOS: true})
			if err != nil {
				t.Fatal(err)
			}
			dropIn, ok := bodies[markerSMBIOSDropIn]
			if init == "openrc" {
				if ok || bodies[factsSMBIOSDropIn] != "" {
					t.Fatalf("openrc got the drop-in:\n%s", dropIn)
				}
				return
			}
			if !strings.Contains(dropIn, "ConditionKernelCommandLine=\nConditionFirmware=smbios-field(product_family = linux-builder-boot-test)\n") {
				t.Errorf("drop-in:\n%s", dropIn)
			}
			// The boot facts print under the boot test only: the same gate.
			if facts := bodies[factsSMBIOSDropIn]; facts != dropIn {
				t.Errorf("the boot facts' drop-in is %q, want the marker's", facts)
			}
			for path, want := range map[string]string{sys.Loaders.SystemdBoot: "SD-BOOT", sys.Loaders.Shim: "SHIM-SIGNED", sys.Loaders.GRUB: "GRUB-SIGNED"} {
				if b, err := os.ReadFile(path); err != nil || string(b) != want {
					t.Errorf("captured %q (%v), want %q", b, err, want)
				}
			}
			if bodies["usr/lib/systemd/boot/efi/systemd-bootx64.efi"] != "SD-BOOT" {
				t.Error("systemd-boot is not in the installed system")
			}
		})
	}
}
