package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// secureBoot boots a stand-in ISO under UEFISecureBoot with qemu and
// returns the result and the log.
func secureBoot(t *testing.T, qemu string, timeout time.Duration) (time.Duration, string, error) {
	t.Helper()
	dir := t.TempDir()
	iso := filepath.Join(dir, "linux.iso")
	if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	took, err := (&Tester{QEMU: qemu}).Boot(context.Background(), pipeline.BootRequest{ISO: iso, Marker: "LINUX-BUILDER-BOOT-OK run=5",
		Firmware: pipeline.UEFISecureBoot, SerialLog: filepath.Join(dir, "boot.log"), Timeout: timeout},
		func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() })
	mu.Lock()
	defer mu.Unlock()
	return took, strings.Join(lines, "\n"), err
}

// Secure Boot gets OVMF's secboot build with SMM (it refuses to run
// without) and a secure flash, and the variable store with Microsoft's
// keys enrolled and Secure Boot on; plain UEFI keeps the plain build.
func TestSecureBootMachine(t *testing.T) {
	qemu := fakeQEMUSays(t, "secureboot: Secure boot enabled\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0)
	if _, log, err := secureBoot(t, qemu, 30*time.Second); err != nil {
		t.Fatalf("boot: %v\n%s", err, log)
	} else {
		for _, want := range []string{"-machine q35,smm=on ", "-global driver=cfi.pflash01,property=secure,value=on",
			"readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", `the kernel said "secureboot: Secure boot enabled"`} {
			if !strings.Contains(log, want) {
				t.Errorf("no %q in\n%s", want, log)
			}
		}
	}
	tester := &Tester{}
	code, vars := tester.firmwareImages(pipeline.UEFISecureBoot)
	if code != "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd" || vars != "/usr/share/OVMF/OVMF_VARS_4M.ms.fd" {
		t.Errorf("Secure Boot firmware = %s, %s", code, vars)
	}
	code, vars = tester.firmwareImages(pipeline.UEFI)
	if code != "/usr/share/OVMF/OVMF_CODE_4M.fd" || vars != "/usr/share/OVMF/OVMF_VARS_4M.fd" {
		t.Errorf("UEFI firmware = %s, %s", code, vars)
	}
}

// Under Secure Boot the marker alone is not a pass: the console must say
// Secure Boot was on (the kernel, or GRUB locked down when the kernel is
// quiet); a kernel that says it was off fails; a refusal by the firmware,
// shim or GRUB fails at once, not at the timeout.
func TestSecureBootNeedsItsProof(t *testing.T) {
	for _, tc := range []struct {
		name, console string
		stay          int
		want          error
	}{
		{"the kernel says so", "secureboot: Secure boot enabled\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0, nil},
		{"GRUB says so for a quiet kernel", pipeline.SecureBootGRUBLine + "\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0, nil},
		{"the kernel's command line spells the kernel's word", "[    0.000000] Command line: BOOT_IMAGE=/live/vmlinuz loglevel=6 x=secureboot: Secure boot enabled\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0, ErrSecureBootNotShown},
		{"the kernel's command line spells GRUB's word", "[    0.012345] Kernel command line: quiet " + pipeline.SecureBootGRUBLine + "\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0, ErrSecureBootNotShown},
		{"nobody says so", "LINUX-BUILDER-BOOT-OK run=5\\n", 0, ErrSecureBootNotShown},
		{"the kernel says it was off", pipeline.SecureBootGRUBLine + "\\nsecureboot: Secure boot disabled\\nLINUX-BUILDER-BOOT-OK run=5\\n", 0, ErrSecureBootNotShown},
		{"the firmware refuses the loader", "BdsDxe: failed to load Boot0001 \"UEFI QEMU DVD-ROM QM00001 \" from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0): Access Denied\\n", 120, ErrSecureBootRefused},
		{"shim refuses GRUB", "Verification failed: (0x1A) Security Violation\\n", 120, ErrSecureBootRefused},
		{"GRUB refuses the kernel", "error: bad shim signature.\\n", 120, ErrSecureBootRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, log, err := secureBoot(t, fakeQEMUSays(t, tc.console, tc.stay), 60*time.Second)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v\n%s", err, tc.want, log)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %s: a refusal must not wait for the timeout", took)
			}
		})
	}
}

// The console is read as it grows: a needle split between two reads, or
// at the end of a line longer than maxLine, is still found; on the
// kernel's echo of its command line only the marker counts.
func TestSerialWatchReadsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.log")
	w := newSerialWatch(path, "LINUX-BUILDER-BOOT-OK run=5 ABC", pipeline.UEFISecureBoot)
	appendTo := func(s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
		w.scan()
	}
	appendTo("[    0.000000] Kernel command line: quiet x=secureboot: Secure boot enabled LINUX-BUILDER-BOOT-OK run=5 ABC\r\n")
	if w.seen(needleKernelSB) || !w.seen(needleMarker) {
		t.Fatalf("after the command line's echo: proof %v, marker %v", w.seen(needleKernelSB), w.seen(needleMarker))
	}
	appendTo("[    0.5] secureboot: Secure boot en")
	if w.seen(needleKernelSB) {
		t.Fatal("half a line is the proof")
	}
	appendTo("abled\r\n")
	if !w.seen(needleKernelSB) {
		t.Fatal("the kernel's line split between two reads was not found")
	}
	appendTo(strings.Repeat("x", 3*maxLine) + "bad shim signature")
	if w.refusal() != "bad shim signature" {
		t.Fatalf("a refusal at the end of a %d-byte line was not found: %q", 3*maxLine, w.refusal())
	}
}
