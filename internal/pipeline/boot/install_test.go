package boot

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// liveISO makes a small ISO with what InstallDisk reads of a live ISO:
// /boot/vmlinuz and /boot/initrd.img (or what tree says instead: a name
// to its content, "->target" for a symbolic link).
func liveISO(t *testing.T, tree map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Fatalf("xorriso (package xorriso) is needed: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	for name, content := range tree {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(dir, "linux.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-quiet", "-o", iso, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return iso
}

var goodLiveISO = map[string]string{"boot/vmlinuz": "kernel", "boot/initrd.img": "initramfs"}

// fakeInstallQEMU writes a QEMU that, as the install machine, prints
// console on its serial file (printf's format: no % and no '), writes
// "INSTALLED" at the start of its virtio disk (when write is set), saves
// its arguments beside itself, and exits with status exit.
func fakeInstallQEMU(t *testing.T, console string, write bool, exit int) (qemu, argsFile string) {
	t.Helper()
	dir := fakeQEMUDir(t, 0o777)
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\n" +
		"for a in \"$@\"; do case \"$a\" in file:*) s=\"${a#file:}\";; file=*,format=raw,if=virtio*) d=\"${a#file=}\"; d=\"${d%%,*}\";; esac; done\n" +
		"printf '" + console + "' > \"$s\"\n"
	if write {
		script += "printf INSTALLED | dd of=\"$d\" conv=notrunc status=none\n"
	}
	script += "exit " + string(rune('0'+exit)) + "\n"
	qemu = filepath.Join(dir, "qemu")
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return qemu, argsFile
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// An install that finishes: the disk the machine wrote is moved to the
// caller's path, whole, its size kept; the installer's lines reach the
// run's log; the machine had no network, no boot-test signal, the
// installer's kernel parameters and the disk at the install's rate.
func TestInstallDiskMovesTheInstalledDisk(t *testing.T) {
	iso := liveISO(t, goodLiveISO)
	qemu, argsFile := fakeInstallQEMU(t, "Linux version 6.1\\nlinux-builder-install: partitions on /dev/vda\\n"+
		"linux-builder-install: console user live: logged in automatically, as on the live system (a disk image)\\n"+
		"linux-builder-install: done: /dev/vda holds the system; remove the live medium and boot from it\\nreboot: Power down\\n", true, 0)
	out := filepath.Join(t.TempDir(), "disk.raw")
	var log lines
	const size = 64 << 20
	if err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, size, log.add); err != nil {
		t.Fatalf("InstallDisk: %v\nlog:\n%s", err, log.String())
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != size {
		t.Errorf("the disk is %d bytes, want %d", info.Size(), size)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("INSTALLED")) {
		t.Errorf("the disk does not hold what the machine wrote: %q", b[:16])
	}
	for _, want := range []string{"install: partitions on /dev/vda", "install: console user live: logged in automatically", "install: done: /dev/vda holds the system"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "Linux version") {
		t.Errorf("the log has the console's other lines:\n%s", log.String())
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	a := string(args)
	for _, want := range []string{"-nic\nnone\n", "-append\n" + installCmdline + "\n", "-sandbox\non,", "throttling.bps-write=67108864", "media=cdrom,readonly=on", "-kernel\n", "-initrd\n"} {
		if !strings.Contains(a, want) {
			t.Errorf("QEMU's arguments lack %q:\n%s", want, a)
		}
	}
	for _, not := range []string{"-smbios", "-netdev", "virtio-net"} {
		if strings.Contains(a, not) {
			t.Errorf("QEMU's arguments have %q:\n%s", not, a)
		}
	}
}

// An install that does not finish leaves no disk, and says why: the
// installer's error, or the console's last line. A console that only
// echoes the installer's words on the kernel's command line, or a
// machine that says done but fails, is no finished install.
func TestInstallDiskThatDoesNotFinish(t *testing.T) {
	iso := liveISO(t, goodLiveISO)
	tests := []struct {
		name    string
		console string
		exit    int
		want    string
	}{
		{"the installer's error", "linux-builder-install: checks\\nlinux-builder-install: error: /dev/vda is 64 MiB: the system needs 1800 MiB\\nlinux-builder-install: failed (exit status 1); powering off\\n", 0,
			"linux-builder-install: error: /dev/vda is 64 MiB: the system needs 1800 MiB"},
		{"no installer at all", "Welcome to Debian\\nlogin: \\n", 0, "the install did not finish: qemu exited (<nil>) ; last console line: login:"},
		{"done only in the kernel's echo", "Kernel command line: boot=live linux-builder-install: done\\n", 0, "the install did not finish"},
		{"done, then qemu failed", "linux-builder-install: done: /dev/vda holds the system\\n", 1, "the install finished, but qemu exited with exit status 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			qemu, _ := fakeInstallQEMU(t, tc.console, true, tc.exit)
			out := filepath.Join(t.TempDir(), "disk.raw")
			var log lines
			err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, 64<<20, log.add)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Errorf("a failed install left %s (%v)", out, statErr)
			}
		})
	}
}

// The kernel and initramfs are read from the ISO into the machine's own
// directory: an ISO without them, or whose /boot/vmlinuz is a symbolic
// link (to a host file), is refused before QEMU starts.
func TestInstallDiskReadsOnlyTheISOsOwnBootFiles(t *testing.T) {
	tests := []struct {
		name string
		tree map[string]string
		want string
	}{
		{"no initramfs", map[string]string{"boot/vmlinuz": "kernel"}, "xorriso"},
		{"a kernel that links to a host file", map[string]string{"boot/vmlinuz": "->/etc/shadow", "boot/initrd.img": "initramfs"}, "/boot/vmlinuz is not a regular file"},
		{"an empty kernel", map[string]string{"boot/vmlinuz": "", "boot/initrd.img": "initramfs"}, "/boot/vmlinuz is 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iso := liveISO(t, tc.tree)
			qemu, argsFile := fakeInstallQEMU(t, "linux-builder-install: done\\n", true, 0)
			out := filepath.Join(t.TempDir(), "disk.raw")
			err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, 64<<20, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, statErr := os.Stat(argsFile); !os.IsNotExist(statErr) {
				t.Errorf("QEMU ran (%v)", statErr)
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Errorf("a refused install left %s", out)
			}
		})
	}
}

// A console that floods stops the machine: the install's console is
// bounded like a boot's.
func TestInstallDiskBoundsTheConsole(t *testing.T) {
	iso := liveISO(t, goodLiveISO)
	dir := fakeQEMUDir(t, 0o755)
	qemu := filepath.Join(dir, "qemu")
	script := "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in file:*) s=\"${a#file:}\";; esac; done\n" +
		"yes 'linux-builder-install: still going' | head -c 20000000 > \"$s\"\nsleep 60\n"
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "disk.raw")
	var log lines
	err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, 64<<20, log.add)
	if err == nil || !strings.Contains(err.Error(), "console wrote more than") {
		t.Fatalf("err = %v, want the console's bound", err)
	}
	// QEMU's command line, the installer's lines, the note that says
	// the rest are in the console only, QEMU stopped.
	if n := strings.Count(log.String(), "\n") + 1; n > maxInstallLogLines+3 {
		t.Errorf("the log got %d lines, over %d", n, maxInstallLogLines+3)
	}
	if !strings.Contains(log.String(), "lines after 200 are not shown") {
		t.Errorf("the log does not say its lines were cut:\n%s", log.String()[:500])
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("a stopped install left %s", out)
	}
}

// asRoot is for the attacks of a machine that escaped into QEMU, which
// runs as nobody only when the bot is root (CI runs the tests as root).
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs the tests as root: QEMU's own user is what this test attacks from")
		}
		t.Skip("needs root: QEMU runs as nobody only when the bot is root")
	}
}

// attackQEMU writes a QEMU (run as nobody) that runs attack, a shell
// snippet with $s the console file and $d the virtio disk, then says the
// install is done.
func attackQEMU(t *testing.T, attack string) string {
	t.Helper()
	dir := fakeQEMUDir(t, 0o755)
	script := "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in file:*) s=\"${a#file:}\";; file=*,format=raw,if=virtio*) d=\"${a#file=}\"; d=\"${d%%,*}\";; esac; done\n" +
		attack + "\nprintf 'linux-builder-install: done\\nmarker\\n' >> \"$s\" 2>/dev/null\nexit 0\n"
	qemu := filepath.Join(dir, "qemu")
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return qemu
}

// A machine that escaped into QEMU cannot make the bot chown, chmod,
// read or publish a host file by putting a link where its disk or its
// console log was: the machine's directory is the bot's.
func TestInstallDiskDoesNotFollowTheMachinesLinks(t *testing.T) {
	asRoot(t)
	iso := liveISO(t, goodLiveISO)
	const size = 64 << 20
	host := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(host, bytes.Repeat([]byte("HOST SECRET\n"), size/12+1)[:size], 0o644); err != nil {
		t.Fatal(err)
	}
	// The console says done first: the disk is then moved, and published.
	qemu := attackQEMU(t, "printf 'linux-builder-install: done\\n' > \"$s\"; rm -f \"$d\"; ln -s "+host+" \"$d\"")
	out := filepath.Join(t.TempDir(), "disk.raw")
	var log lines
	err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, size, log.add)
	info, statErr := os.Stat(host)
	if statErr != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("the host file was changed: %v, %v", info.Mode(), statErr)
	}
	if strings.Contains(log.String(), "HOST SECRET") || (err != nil && strings.Contains(err.Error(), "HOST SECRET")) {
		t.Errorf("the host file was read: %v\n%s", err, log.String())
	}
	if err == nil {
		b, readErr := os.ReadFile(out)
		if readErr != nil || bytes.Contains(b, []byte("HOST SECRET")) {
			t.Errorf("the published disk is the host file (%v)", readErr)
		}
		if l, _ := os.Lstat(out); l != nil && l.Mode()&os.ModeSymlink != 0 {
			t.Error("the published disk is a link")
		}
	}
}

// The same for a boot: its console log, copied out for the run, is the
// machine's, never a host file it links to.
func TestBootDoesNotFollowTheMachinesLinks(t *testing.T) {
	asRoot(t)
	host := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(host, []byte("HOST SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	qemu := attackQEMU(t, "rm -f \"$s\"; ln -s "+host+" \"$s\"")
	dir := t.TempDir()
	iso := filepath.Join(dir, "linux.iso")
	if err := os.WriteFile(iso, []byte("iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(dir, "boot-bios.log")
	_, _ = (&Tester{QEMU: qemu}).Boot(context.Background(), pipeline.BootRequest{ISO: iso, Marker: "marker", Firmware: pipeline.BIOS,
		SerialLog: serial, Timeout: 30 * time.Second}, func(string) {})
	b, _ := os.ReadFile(serial)
	if bytes.Contains(b, []byte("HOST SECRET")) {
		t.Errorf("the run's console log is the host file:\n%s", b)
	}
}

// A live system that never starts the installer (a kernel that hangs, an
// image without the service) is stopped once it has been quiet too long,
// with the console's last line, well before the step's own limit.
func TestInstallDiskStopsAMachineThatNeverInstalls(t *testing.T) {
	defer func(d time.Duration) { installFirstLine = d }(installFirstLine)
	installFirstLine = time.Second
	iso := liveISO(t, goodLiveISO)
	qemu := attackQEMU(t, "printf 'Kernel panic - not syncing: \\033[1mVFS\\000\\n' > \"$s\"; sleep 60")
	out := filepath.Join(t.TempDir(), "disk.raw")
	start := time.Now()
	err := (&Tester{QEMU: qemu}).InstallDisk(context.Background(), iso, out, 64<<20, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "printed no installer line within 1s; last console line: Kernel panic - not syncing: [1mVFS") {
		t.Fatalf("err = %v", err)
	}
	if strings.ContainsAny(err.Error(), "\x00\x1b") {
		t.Errorf("the reason has the console's control characters: %q", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("stopped after %s", took)
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("left %s", out)
	}
}
