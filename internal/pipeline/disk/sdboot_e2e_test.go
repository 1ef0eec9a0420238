package disk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// A spec asking for systemd-boot gets a disk that boots UEFI machines with
// the image's own systemd-boot (its loader entry, with the spec's kernel
// parameters; GRUB is not on that path: the kernel command line has no
// BOOT_IMAGE=, which only GRUB adds) and BIOS machines with GRUB, the
// spec's parameters in both. systemd-boot is not signed: the disk is not
// booted with Secure Boot, and the run says why. The same spec's live ISO
// installs a system that boots the same way: linux-builder-install puts
// systemd-boot on the ESP with the installed system's own bootctl and
// kernel-install (as its kernel upgrades will), and GRUB for BIOS.
func TestSystemdBootBootsUEFIDisksAndInstallsAndGRUBBootsBIOS(t *testing.T) {
	for _, tool := range []string{"xorriso"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, "%s is not installed (scripts/setup.sh)", tool)
		}
	}
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, []byte("customization:\n  bootloader: systemd-boot\ndefaults:\n  kernelParams: [lb.loader-test=1]\n")...)
	// Configured for Secure Boot alone: the ISO (GRUB's, signed) boots
	// under it once, as the ISO to install from; the disk boots under
	// BIOS and UEFI, as its spec's firmware says, and not with Secure Boot,
	// which the run must explain. The ISO's BIOS and UEFI boots are the
	// minimal-debian tests'; two fewer TCG boots here keep CI in its time.
	d := runSpec(t, src, []spec.Output{spec.OutputISO, spec.OutputRaw}, []pipeline.Firmware{pipeline.UEFISecureBoot})
	arts, err := d.db.Artifacts(context.Background(), d.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	if _, ok := byName["boot-disk-uefi-secureboot.log"]; ok {
		t.Error("a systemd-boot disk was booted with Secure Boot")
	}
	if !strings.Contains(d.log, "the disk image is not boot-tested with Secure Boot: its UEFI boot loader, systemd-boot, is not signed by debian") {
		t.Errorf("the run does not say why the disk is not booted with Secure Boot:\n%s", tail(d.log, 6000))
	}
	if !strings.Contains(d.log, "UEFI: the image's systemd-boot") {
		t.Errorf("the disk step does not say it put systemd-boot on the ESP:\n%s", tail(d.log, 6000))
	}
	// GRUB puts BOOT_IMAGE= first; systemd-boot puts the initrd= the
	// kernel's EFI stub reads.
	for fw, grub := range map[string]bool{"uefi": false, "bios": true} {
		a, ok := byName["boot-disk-"+fw+".log"]
		if !ok {
			t.Fatalf("no boot-disk-%s.log", fw)
		}
		console, err := os.ReadFile(a.Location)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d", d.run.ID), "EXT4-fs (vda3)"} {
			if !strings.Contains(string(console), want) {
				t.Errorf("%s: the console never said %q\n--- serial (tail) ---\n%s", fw, want, tail(string(console), 4000))
			}
		}
		_, cmdline, _ := strings.Cut(string(console), "Kernel command line: ")
		cmdline, _, _ = strings.Cut(cmdline, "\n")
		if !strings.Contains(cmdline, " root=UUID=") || !strings.Contains(cmdline, " lb.loader-test=1") ||
			strings.HasPrefix(cmdline, "BOOT_IMAGE=/EFI/linux-builder/vmlinuz ") != grub ||
			// systemd-boot cannot add the boot-test word: the marker read
			// the SMBIOS signal itself (the disk step's drop-in).
			strings.Contains(cmdline, "linux-builder.boot-test") != grub {
			t.Errorf("%s: kernel command line %q (booted by GRUB: want %v)", fw, cmdline, grub)
		}
		t.Logf("%s: kernel command line %q", fw, cmdline)
		if strings.Contains(d.log, "boot test (disk, "+fw+") passed") {
			t.Logf("boot test (disk, %s) passed", fw)
		} else {
			t.Errorf("no passed boot (disk, %s) in the run's log", fw)
		}
	}
	for _, l := range d.watch.l {
		if strings.HasPrefix(l, "boot tests:") || strings.Contains(l, "marker after") {
			t.Log(l)
		}
	}

	// The install: minimal-debian has no users, so its console user gets
	// the password given.
	iso, ok := byName["linux.iso"]
	if !ok {
		t.Fatal("no linux.iso")
	}
	dir := t.TempDir()
	pwPath := filepath.Join(dir, "install.password")
	if err := os.WriteFile(pwPath, []byte("installed-system password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	diskPath := installFromISO(t, iso.Location, dir, 6<<30, map[string]string{"passwordfile": pwPath})
	install := readFile(t, filepath.Join(dir, "install.log"))
	for _, want := range []string{"linux-builder-install: systemd-boot for UEFI", "linux-builder-install: GRUB for BIOS"} {
		if !strings.Contains(install, want) {
			t.Errorf("the install never said %q\n--- serial (tail) ---\n%s", want, tail(install, 4000))
		}
	}
	if strings.Contains(install, "GRUB for UEFI") {
		t.Error("the install put GRUB on the ESP")
	}
	marker := regexp.MustCompile(fmt.Sprintf(`LINUX-BUILDER-BOOT-OK run=%d \S+`, d.run.ID))
	consoles := bootInstalled(t, dir, diskPath, []pipeline.Firmware{pipeline.UEFI, pipeline.BIOS}, nil, marker)
	for fw, console := range consoles {
		if !marker.MatchString(console) {
			t.Errorf("installed, %s: no marker\n--- serial (tail) ---\n%s", fw, tail(console, 6000))
			continue
		}
		// The boot facts run under the boot test only: systemd-boot
		// cannot say so on the command line, the SMBIOS gate does.
		facts := bootFacts(console)
		if _, ok := facts["end"]; !ok || !strings.HasPrefix(facts["root"], "ext4 /dev/vda") || facts["install-service"] != "disabled" {
			t.Errorf("installed, %s: facts %q, want an ext4 root on /dev/vda, the install service disabled and the end line", fw, facts)
		}
		_, cmdline, _ := strings.Cut(console, "Kernel command line: ")
		cmdline, _, _ = strings.Cut(cmdline, "\n")
		grub := fw == pipeline.BIOS
		if !strings.Contains(cmdline, "root=") || !strings.Contains(cmdline, " lb.loader-test=1") ||
			strings.HasPrefix(cmdline, "BOOT_IMAGE=") != grub {
			t.Errorf("installed, %s: kernel command line %q (booted by GRUB: want %v)", fw, cmdline, grub)
		}
		t.Logf("installed, %s: kernel command line %q", fw, cmdline)
	}
}
