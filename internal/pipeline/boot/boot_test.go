package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// fakeQEMU writes a script that prints marker on the console file QEMU
// would get and exits, as a system that boots and powers off does. Its
// directory is readable by nobody (QEMU's user when the test is root).
func fakeQEMU(t *testing.T, marker string) string {
	t.Helper()
	return fakeQEMUSays(t, "booting\\n"+marker+"\\n", 0)
}

// fakeQEMUDir is a directory for a fake QEMU, removed after the test,
// of mode (QEMU runs as nobody when the test is root).
func fakeQEMUDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fake-qemu-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeQEMUSays writes a script that prints console (printf's format: no
// % and no ') on the console file, then stays up for stay seconds.
func fakeQEMUSays(t *testing.T, console string, stay int) string {
	t.Helper()
	dir := fakeQEMUDir(t, 0o755)
	script := "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in file:*) s=\"${a#file:}\";; esac; done\n" +
		"printf '" + console + "' > \"$s\"\n"
	if stay > 0 {
		script += fmt.Sprintf("sleep %d\n", stay)
	}
	path := filepath.Join(dir, "qemu")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The machine's vCPUs share the host among the boots running at once: two
// boots on 2 cores get one each; an explicit CPUs wins.
func TestBootSizesSMPToTheBootsAtOnce(t *testing.T) {
	defer func(f func() int) { numCPU = f }(numCPU)
	tests := []struct {
		name       string
		host, cpus int // host CPUs, Tester.CPUs
		concurrent int
		want       string
	}{
		{name: "two boots on 2 cores", host: 2, concurrent: 2, want: "-smp 1 "},
		{name: "one boot on 2 cores", host: 2, concurrent: 1, want: "-smp 2 "},
		{name: "unset means one boot", host: 2, concurrent: 0, want: "-smp 2 "},
		{name: "two boots on 1 core get one each", host: 1, concurrent: 2, want: "-smp 1 "},
		{name: "two boots on 8 cores", host: 8, concurrent: 2, want: "-smp 4 "},
		{name: "explicit CPUs", host: 8, cpus: 3, concurrent: 2, want: "-smp 3 "},
	}
	const marker = "LINUX-BUILDER-BOOT-OK run=7"
	qemu := fakeQEMU(t, marker)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			numCPU = func() int { return tc.host }
			dir := t.TempDir()
			iso := filepath.Join(dir, "linux.iso")
			if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var lines []string
			tester := &Tester{QEMU: qemu, CPUs: tc.cpus}
			took, err := tester.Boot(context.Background(), pipeline.BootRequest{ISO: iso, Marker: marker, Firmware: pipeline.BIOS,
				SerialLog: filepath.Join(dir, "boot-bios.log"), Timeout: 30 * time.Second, Concurrent: tc.concurrent},
				func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() })
			if err != nil || took <= 0 {
				t.Fatalf("boot: %v (%s); log %q", err, took, lines)
			}
			mu.Lock()
			defer mu.Unlock()
			var cmd string
			for _, l := range lines {
				if strings.HasPrefix(l, "boot (bios): "+qemu) {
					cmd = l
				}
			}
			if !strings.Contains(cmd, tc.want) {
				t.Fatalf("want %q in the QEMU command line, got %q", tc.want, cmd)
			}
		})
	}
}

// A disk boots as a writable virtio disk from the hard disk; an ISO as a
// read-only CD; asking for both is an error.
func TestBootAttachesADiskOrAnISO(t *testing.T) {
	const marker = "LINUX-BUILDER-BOOT-OK run=8"
	qemu := fakeQEMU(t, marker)
	dir := t.TempDir()
	img := filepath.Join(dir, "boot-test.raw")
	if err := os.WriteFile(img, []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	logf := func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	tester := &Tester{QEMU: qemu}
	if _, err := tester.Boot(context.Background(), pipeline.BootRequest{Disk: img, Marker: marker, Firmware: pipeline.UEFI,
		SerialLog: filepath.Join(dir, "boot-uefi.log"), Timeout: 30 * time.Second}, logf); err != nil {
		t.Fatalf("boot: %v; log %q", err, lines)
	}
	mu.Lock()
	cmd := strings.Join(lines, "\n")
	mu.Unlock()
	// The disk's writes are throttled.
	if !strings.Contains(cmd, "linux.raw,format=raw,if=virtio,throttling.bps-write=8388608 -boot c") || strings.Contains(cmd, "media=cdrom") ||
		!strings.Contains(cmd, "if=pflash") {
		t.Fatalf("QEMU command line for a disk: %s", cmd)
	}
	if _, err := tester.Boot(context.Background(), pipeline.BootRequest{Disk: img, ISO: img, Marker: marker, Firmware: pipeline.BIOS,
		SerialLog: filepath.Join(dir, "boot-bios.log"), Timeout: 30 * time.Second}, logf); err == nil {
		t.Fatal("a boot with both a disk and an ISO was accepted")
	}
}

// The boot test's machine carries the boot-test signal in its SMBIOS
// tables (the boot loader arms the marker only then); a boot as a user's
// machine does not.
func TestBootSignalsTheBootTestOnlyWhenTesting(t *testing.T) {
	const marker = "LINUX-BUILDER-BOOT-OK run=9"
	qemu := fakeQEMU(t, marker)
	dir := t.TempDir()
	iso := filepath.Join(dir, "linux.iso")
	if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	signal := "-smbios type=1,family=" + pipeline.BootTestSMBIOSFamily
	for _, asUser := range []bool{false, true} {
		var mu sync.Mutex
		var lines []string
		logf := func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
		tester := &Tester{QEMU: qemu, AsUser: asUser}
		if _, err := tester.Boot(context.Background(), pipeline.BootRequest{ISO: iso, Marker: marker, Firmware: pipeline.BIOS,
			SerialLog: filepath.Join(dir, "boot.log"), Timeout: 30 * time.Second}, logf); err != nil {
			t.Fatalf("boot (as user %v): %v; log %q", asUser, err, lines)
		}
		mu.Lock()
		cmd := strings.Join(lines, "\n")
		mu.Unlock()
		if got := strings.Contains(cmd, signal); got == asUser {
			t.Fatalf("as user %v: signal in the QEMU command line = %v: %s", asUser, got, cmd)
		}
	}
}

// The marker is the pass: a machine that printed it is stopped at once
// rather than waited for while it powers off. The fake stays up for a
// minute after the marker; the boot must end long before that, and well
// before the 20 seconds the power-off used to be given.
func TestBootStopsTheMachineAtTheMarker(t *testing.T) {
	const marker = "LINUX-BUILDER-BOOT-OK run=4"
	qemu := fakeQEMUSays(t, "booting\\n"+marker+"\\n", 60)
	dir := t.TempDir()
	iso := filepath.Join(dir, "linux.iso")
	if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	logf := func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	start := time.Now()
	took, err := (&Tester{QEMU: qemu}).Boot(context.Background(), pipeline.BootRequest{ISO: iso, Marker: marker, Firmware: pipeline.BIOS,
		SerialLog: filepath.Join(dir, "boot.log"), Timeout: 90 * time.Second}, logf)
	if err != nil {
		t.Fatalf("boot: %v; log %q", err, lines)
	}
	if wall := time.Since(start); wall > 10*time.Second {
		t.Fatalf("the boot took %s after a marker at %s: the machine was not stopped at the marker", wall, took)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(lines, "\n"), "stopping the machine") {
		t.Fatalf("the log does not say the machine was stopped: %q", lines)
	}
}
