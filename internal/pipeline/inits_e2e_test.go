package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot/boottest"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// initSpecs are the Debian systems of TestEveryInitBootsToItsMarker: the
// smallest spec for each init Linux Builder can boot-test on Debian.
// LINUX_BUILDER_TEST_INITS (comma-separated) picks some of them.
var initSpecs = []string{"openrc", "runit", "s6"}

var markerAfter = regexp.MustCompile(`boot test \(([a-z0-9 ,-]+)\) passed: marker after (\S+)`)

// fullInitTable (LINUX_BUILDER_TEST_FULL=1) makes the whole table: every
// init, systemd's too, boots under BIOS and UEFI, and every init but
// systemd installs itself and its disk boots (the disk package's install
// test installs systemd's). By default (CI), systemd is left to the end-to-end tests of this
// package and of disk, which boot its ISO and disk images under every
// firmware; the other inits alternate UEFI and BIOS (what comes before the
// init, firmware, boot loader, kernel and initramfs, does not depend on
// it), and s6's qcow2 alone is installed from its ISO (an xfs root: the
// disk step boots the ISO with a blank disk and lb.install=, and the s6
// system's own service installs it unattended; the installer's steps for
// an init other than systemd are the same for each).
func fullInitTable() bool { return os.Getenv("LINUX_BUILDER_TEST_FULL") == "1" }

// initFirmware is the firmware the i-th init's ISO and disk image boot under.
func initFirmware(i int) []pipeline.Firmware {
	if fullInitTable() {
		return []pipeline.Firmware{pipeline.BIOS, pipeline.UEFI}
	}
	return [][]pipeline.Firmware{{pipeline.UEFI}, {pipeline.BIOS}}[i%2]
}

// Every init Linux Builder supports on Debian builds into an image, an
// ISO and a qcow2 disk image that both boot to the boot-test marker
// (booted at once, as every run's are; initFirmware says under which
// firmware). The ISO of each init then boots as a user's machine would:
// the init comes up and the marker stays off: s6's does so in the
// pipeline's own disk step, which installs s6's xfs qcow2 from it; with
// fullInitTable every init's also boots with a blank disk and
// lb.install=/dev/vda, its own service installs the system unattended,
// and the installed disk boots to the marker. Each row of the table the closing note
// asks for is logged: output × firmware × init → booted, time to marker,
// image size. Each init's system image is the engine's layer cache after
// the first run (see the timings in README.md).
func TestEveryInitBootsToItsMarker(t *testing.T) {
	eng := realEngine(t)
	inits := initSpecs
	if fullInitTable() {
		inits = append([]string{"systemd"}, inits...)
	}
	if v := os.Getenv("LINUX_BUILDER_TEST_INITS"); v != "" {
		inits = strings.Split(v, ",")
	}
	var table []string
	for i, init := range inits {
		t.Run(init, func(t *testing.T) {
			rows, install := bootOneInit(t, eng, init, initFirmware(i))
			table = append(table, rows...)
			if install != nil && !t.Failed() {
				table = append(table, install()...)
			}
		})
	}
	t.Logf("output × firmware × init → booted, time to marker, image size:\n%-6s %-5s %-8s %-6s %-10s %s\n%s",
		"output", "fw", "init", "booted", "marker", "size", strings.Join(table, "\n"))
}

// bootOneInit builds the init's Debian spec through the whole pipeline and
// returns its table rows and, for an init other than systemd's, the check
// that its published ISO stays up on a user's machine: for s6 (every init
// with fullInitTable), by installing itself unattended, which returns the
// installed disk's row.
func bootOneInit(t *testing.T, eng *docker.Engine, init string, firmwares []pipeline.Firmware) ([]string, func() []string) {
	t.Helper()
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	src := []byte(fmt.Sprintf("name: debian-%s\nbase: debian\nrelease: bookworm\ninit: %s\noutputs: [iso, qcow2]\n", init, init))
	installed := init == "s6"
	if installed {
		// An xfs root: the qcow2 is installed from the ISO.
		src = append(src, "filesystem: {root: xfs, diskSize: 6G}\n"...)
	}
	watch := &logWatch{}
	// OpenRC's boot (sysvinit, then every LSB script) took 4 of the
	// default 5 minutes under TCG on a loaded machine: the boots get 10.
	p := newRealPipelineWith(t, db, eng, watch, true, func(c *pipeline.Config) {
		c.BootTimeout = 10 * time.Minute
		// Secure Boot's boot proves the signed chain, which does not
		// depend on the init (the minimal-debian test and the boot and
		// disk packages' tests boot it).
		c.Firmwares = firmwares
		c.Disk = &disk.Builder{Exporter: eng, Tools: eng, Installer: &boot.Tester{}}
		c.MaxBoots = 2
	})
	id := createRun(t, db, "debian-"+init+".yaml", src)
	start := time.Now()
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rn, _ := db.Run(ctx, id)
	arts, _ := db.Artifacts(ctx, id)
	byName := map[string]store.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	watch.mu.Lock()
	lines := strings.Join(watch.lines, "\n")
	watch.mu.Unlock()
	steps, _ := db.Steps(ctx, id)
	for _, s := range steps {
		t.Logf("%s: %-15s %s %6.1fs", init, s.Step, s.Status, float64(s.DurationMS)/1000)
	}
	t.Logf("%s: the run took %s", init, took.Round(time.Second))
	after := map[string]string{}
	for _, m := range markerAfter.FindAllStringSubmatch(lines, -1) {
		after[m[1]] = m[2]
	}
	var rows []string
	for _, out := range []struct{ name, log, boot, artifact string }{
		{"iso", "boot-", "", "linux.iso"}, {"qcow2", "boot-disk-", "disk, ", "linux.qcow2"},
	} {
		for _, f := range firmwares {
			fw := string(f)
			b, err := os.ReadFile(byName[out.log+fw+".log"].Location)
			booted := err == nil && strings.Contains(string(b), fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d", id))
			rows = append(rows, fmt.Sprintf("%-6s %-5s %-8s %-6s %-10s %.0f MB", out.name, fw, init, map[bool]string{true: "yes", false: "no"}[booted],
				orDash(after[out.boot+fw]), float64(byName[out.artifact].Size)/1e6))
			if !booted {
				t.Errorf("%s: the %s %s serial log has no marker (%v):\n%s", init, out.name, fw, err, tail(b, 3000))
			}
			// LINUX_BUILDER_TEST_LOGS keeps the serial logs (a directory).
			if dir := os.Getenv("LINUX_BUILDER_TEST_LOGS"); dir != "" && err == nil {
				_ = os.WriteFile(filepath.Join(dir, out.log+init+"-"+fw+".log"), b, 0o644)
			}
		}
	}
	if installed {
		// The disk step booted the published ISO as a user's machine (no
		// boot-test signal): the s6 system came up, ran its install
		// service, which installed an xfs root and powered off.
		for _, want := range []string{"disk: an xfs root: the disk image is installed from the live ISO", "install: installing on /dev/vda: xfs root",
			"install: console user live: logged in automatically", "install: done: /dev/vda holds the system", "disk: installed by linux-builder-install in"} {
			if !strings.Contains(lines, want) {
				t.Errorf("%s: the run's log does not say %q", init, want)
			}
		}
	}
	if rn.Status != run.StatusSuccess || rn.FailureReason != "" {
		t.Errorf("%s: run %s (%s): %s\n%s", init, rn.Status, rn.Step, rn.FailureReason, tail([]byte(lines), 3000))
	}
	// The published ISO of an init other than systemd's (minimal-debian's
	// test boots that one) stays up on a user's machine: its marker
	// service ran and did nothing. s6's (every init's with fullInitTable)
	// also installs itself, as installUnattended checks.
	up, ok := initUp[init]
	if !ok {
		return rows, nil
	}
	markerTook := longestMarker(t, lines)
	return rows, func() []string {
		if fullInitTable() {
			return installUnattended(t, byName["linux.iso"].Location, id, init, up, firmwares[0])
		}
		if installed {
			return nil // the disk step's install booted it as a user's machine
		}
		userBootReaches(t, byName["linux.iso"].Location, markerTook, up)
		return nil
	}
}

// installUnattended boots the init's published ISO as a user's machine
// would (no boot-test signal) with a blank disk and lb.install=/dev/vda.
// The init comes up (up is what its console shows once it runs its
// services: sysvinit's runlevel, runit's stage 2, the s6 system's serial
// getty) and its marker service does nothing; the init's own
// linux-builder-install service installs the system (ext4, unencrypted,
// as the spec's filesystem section is empty; the console user's password
// from a file) and powers the machine off. The installed disk then boots
// to the marker under fw (its GRUB arms the marker under the boot test
// only). It returns the table's row for the installed disk.
func installUnattended(t *testing.T, iso string, id int64, init, up string, fw pipeline.Firmware) []string {
	t.Helper()
	dir := t.TempDir()
	kernel, initrd := boottest.LiveKernel(t, iso, dir)
	diskPath := filepath.Join(dir, "disk.raw")
	boottest.BlankDisk(t, diskPath, 6<<30)
	// The spec has no users: the installed console user's password is
	// handed over as a file (QEMU's fw_cfg), as an unattended install
	// must.
	pwPath := filepath.Join(dir, "install.password")
	const password = "installed-system password"
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	console := boottest.Run(t, boottest.Machine{
		Name: "install " + init, CPUs: 2, Timeout: 20 * time.Minute,
		Args: []string{
			"-drive", "file=" + diskPath + ",format=raw,if=virtio",
			"-drive", "file=" + iso + ",media=cdrom,readonly=on",
			"-kernel", kernel, "-initrd", initrd,
			"-append", "boot=live components console=ttyS0,115200n8 lb.install=/dev/vda " +
				"lb.install.passwordfile=/sys/firmware/qemu_fw_cfg/by_name/opt/linux-builder/install-password/raw",
			"-fw_cfg", "name=opt/linux-builder/install-password,file=" + pwPath,
		},
	})
	installTook := time.Since(start)
	t.Logf("%s: unattended install: %s", init, installTook.Round(time.Second))
	if strings.Contains(console, "LINUX-BUILDER-BOOT-OK") {
		t.Fatalf("%s: a user's boot of the published ISO printed the boot-test marker:\n%s", init, boottest.Tail(console, 3000))
	}
	if strings.Contains(console, password) {
		t.Errorf("%s: the console user's password was printed on the console", init)
	}
	if !strings.Contains(console, up) {
		t.Errorf("%s: the console never showed %q", init, up)
	}
	if !strings.Contains(console, "linux-builder-install: done") {
		t.Fatalf("%s: the unattended install did not finish\n--- serial (tail) ---\n%s", init, boottest.Tail(console, 6000))
	}
	serial := filepath.Join(dir, "boot-installed.log")
	took, err := (&boot.Tester{}).Boot(context.Background(), pipeline.BootRequest{Disk: diskPath,
		Marker: fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d", id), Firmware: fw, SerialLog: serial, Timeout: 10 * time.Minute},
		func(l string) { t.Log(l) })
	var used int64
	if st, err := os.Stat(diskPath); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			used = sys.Blocks * 512
		}
	}
	row := fmt.Sprintf("%-6s %-5s %-8s %-6s %-10s %.0f MB", "instd", fw, init, map[bool]string{true: "yes", false: "no"}[err == nil],
		map[bool]string{true: took.Round(100 * time.Millisecond).String(), false: "-"}[err == nil], float64(used)/1e6)
	if err != nil {
		b, _ := os.ReadFile(serial)
		t.Errorf("%s: the installed disk did not boot to its marker under %s: %v\n%s", init, fw, err, tail(b, 3000))
	}
	return []string{row}
}

var initUp = map[string]string{"openrc": "Entering runlevel: 2", "runit": "runit: enter stage: /etc/runit/2", "s6": "login:"}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
