package disk_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// A spec asking for systemd-boot gets a disk that boots UEFI machines with
// the image's own systemd-boot (its loader entry, with the spec's kernel
// parameters; GRUB is not on that path: the kernel command line has no
// BOOT_IMAGE=, which only GRUB adds) and BIOS machines with GRUB, the
// spec's parameters in both. systemd-boot is not signed: the disk is not
// booted with Secure Boot, and the run says why.
func TestSystemdBootDiskBootsUEFIWithSystemdBootAndBIOSWithGRUB(t *testing.T) {
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, []byte("customization:\n  bootloader: systemd-boot\ndefaults:\n  kernelParams: [lb.loader-test=1]\n")...)
	d := runDiskSpec(t, src, []spec.Output{spec.OutputRaw})
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
}
