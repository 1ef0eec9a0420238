package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// initSpecs are the Debian systems of TestEveryInitBootsToItsMarker: the
// smallest spec for each init Linux Builder can boot-test on Debian.
// LINUX_BUILDER_TEST_INITS (comma-separated) picks some of them.
var initSpecs = []string{"systemd", "openrc", "runit", "s6"}

var markerAfter = regexp.MustCompile(`boot test \(([a-z0-9 ,-]+)\) passed: marker after (\S+)`)

// Every init Linux Builder supports on Debian builds into an image, an
// ISO and a qcow2 disk image that each boot to the boot-test marker under
// BIOS and UEFI (booted two at a time, as every run's are). Each row of the table the issue's
// closing note asks for is logged: output × firmware × init → booted,
// time to marker, image size. Each init's system image is the engine's
// layer cache after the first run (see the timings in README.md).
func TestEveryInitBootsToItsMarker(t *testing.T) {
	eng := realEngine(t)
	inits := initSpecs
	if v := os.Getenv("LINUX_BUILDER_TEST_INITS"); v != "" {
		inits = strings.Split(v, ",")
	}
	var table []string
	for _, init := range inits {
		t.Run(init, func(t *testing.T) {
			rows, userBoot := bootOneInit(t, eng, init)
			table = append(table, rows...)
			if userBoot != nil && !t.Failed() {
				userBoot()
			}
		})
	}
	t.Logf("output × firmware × init → booted, time to marker, image size:\n%-6s %-5s %-8s %-6s %-10s %s\n%s",
		"output", "fw", "init", "booted", "marker", "size", strings.Join(table, "\n"))
}

// bootOneInit builds the init's Debian spec through the whole pipeline and
// returns its table rows and, for an init other than systemd's, the check
// that its published ISO stays up on a user's machine.
func bootOneInit(t *testing.T, eng *docker.Engine, init string) ([]string, func()) {
	t.Helper()
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	src := []byte(fmt.Sprintf("name: debian-%s\nbase: debian\nrelease: bookworm\ninit: %s\noutputs: [iso, qcow2]\n", init, init))
	watch := &logWatch{}
	// OpenRC's boot (sysvinit, then every LSB script) took 4 of the
	// default 5 minutes under TCG on a loaded machine: the boots get 10.
	p := newRealPipelineWith(t, db, eng, watch, true, func(c *pipeline.Config) {
		c.BootTimeout = 10 * time.Minute
		// BIOS and UEFI, at once: Secure Boot's boot proves the signed
		// chain, which does not depend on the init (the minimal-debian
		// test and the boot package's tests boot it).
		c.Firmwares = []pipeline.Firmware{pipeline.BIOS, pipeline.UEFI}
		c.Disk = &disk.Builder{Exporter: eng, Tools: eng}
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
		for _, fw := range []string{"bios", "uefi"} {
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
	if rn.Status != run.StatusSuccess || rn.FailureReason != "" {
		t.Errorf("%s: run %s (%s): %s\n%s", init, rn.Status, rn.Step, rn.FailureReason, tail([]byte(lines), 3000))
	}
	// The published ISO of an init other than systemd's (minimal-debian's
	// test boots that one) stays up on a user's machine: its marker
	// service ran and did nothing. What the console shows once the init
	// runs its services: sysvinit's runlevel, runit's stage 2, the s6
	// system's serial getty.
	up, ok := initUp[init]
	if !ok {
		return rows, nil
	}
	markerTook := longestMarker(t, lines)
	return rows, func() { userBootReaches(t, byName["linux.iso"].Location, markerTook, up) }
}

var initUp = map[string]string{"openrc": "Entering runlevel: 2", "runit": "runit: enter stage: /etc/runit/2", "s6": "login:"}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
