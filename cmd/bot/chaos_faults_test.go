package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// The faults of the chaos suite, one method each; chaos_test.go has the
// rig and the checks they share.

// githubOutage: GitHub answers 502 to everything for d from the moment the
// run enters ISO_GENERATING (its last check-run updates and its whole
// release fall in the outage). The check run and the release catch up.
func (g *chaosRig) githubOutage(row *chaosRow, d time.Duration) {
	dir := g.t.TempDir()
	a := g.startWorker(workerOpts{dataDir: dir})
	id, sha := g.newRun("github-502")
	g.waitStep(id, run.ISOGenerating, 15*time.Minute, a)
	faultAt := time.Now()
	until := g.fake.Outage(d)
	row.details = fmt.Sprintf("502 for %s", d)
	published := g.finish(row, id, sha, faultAt, d+5*time.Minute, []string{dir}, a)
	if !published.IsZero() {
		row.recover = published.Sub(until)
		row.details += fmt.Sprintf("; %d requests answered 502; caught up after the outage", g.fake.OutageHits())
	}
	a.stop(g.t)
}

// kill9 kills the worker (SIGKILL) while the run is in step ("publish":
// during the release's first asset upload); a second worker rescues it.
// The killed worker is then started again on its data directory, which
// must be swept of the dead attempt's files.
func (g *chaosRig) kill9(row *chaosRow, step run.State) {
	dirA, dirB := g.t.TempDir(), g.t.TempDir()
	opts := workerOpts{dataDir: dirA, boot: step == run.BootTesting}
	if step == run.Validating || step == run.Generating {
		opts.holdAt = step
	}
	a := g.startWorker(opts)
	var faultAt time.Time
	var id int64
	var sha string
	if step == "publish" {
		killed := make(chan struct{})
		var once sync.Once
		g.fake.OnRequest(func(method, route string) {
			if method == http.MethodPost && route == "/repos/{owner}/{repo}/releases/{release_id}/assets" {
				once.Do(func() {
					a.kill9()
					faultAt = time.Now()
					close(killed)
				})
			}
		})
		defer g.fake.OnRequest(nil)
		id, sha = g.newRun("kill9-publish")
		select {
		case <-killed:
		case <-time.After(15 * time.Minute):
			g.t.Fatalf("run %d's release never uploaded an asset\n%s", id, a.log())
		}
	} else {
		id, sha = g.newRun("kill9-" + string(step))
		g.waitStep(id, step, 15*time.Minute, a)
		g.settle(id, step)
		a.kill9()
		faultAt = time.Now()
	}
	b := g.startWorker(workerOpts{dataDir: dirB, boot: step == run.BootTesting})
	if step == "publish" {
		waitFor(g.t, 5*time.Minute, "the release job to be picked up again", func() bool {
			at, ok := g.jobAttemptedAfter(id, "publish_release", faultAt)
			if ok {
				row.recover = at.Sub(faultAt)
			}
			return ok
		}, b)
	} else {
		g.waitPickedUp(row, id, faultAt, b)
	}
	g.finish(row, id, sha, faultAt, 5*time.Minute, []string{dirB}, b)
	b.stop(g.t)
	// The dead worker's machine: its process and its files.
	a2 := g.startWorker(workerOpts{dataDir: dirA})
	time.Sleep(5 * time.Second)
	a2.stop(g.t)
	var left []string
	for _, f := range regularFiles(dirA) {
		left = append(left, "killed worker's file "+f)
	}
	left = append(left, processesUnder(dirA)...)
	if len(left) > 0 {
		g.t.Errorf("%s: the killed worker left %v", row.fault, left)
		row.leftovers = strings.TrimPrefix(row.leftovers+"; "+strings.Join(left, "; "), "none; ")
	}
}

// waitPickedUp waits for run id to enter VALIDATING again after the fault
// (at most 5 minutes) and records how long that took as row's recovery.
func (g *chaosRig) waitPickedUp(row *chaosRow, id int64, faultAt time.Time, logs ...*worker) {
	g.t.Helper()
	waitFor(g.t, 5*time.Minute, fmt.Sprintf("run %d to be picked up again", id), func() bool {
		at, ok := g.pickedUpAt(id, faultAt)
		if ok {
			row.recover = at.Sub(faultAt)
		}
		return ok
	}, logs...)
}

// settle waits until the step is under way: in BUILDING until the build
// runs a container, in the ISO step and the boot test a few seconds.
func (g *chaosRig) settle(id int64, step run.State) {
	switch step {
	case run.Building:
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && len(g.engineContainers(id)) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	case run.ISOGenerating:
		time.Sleep(3 * time.Second)
	case run.BootTesting:
		time.Sleep(5 * time.Second)
	}
}

// engineContainers lists the running run's containers.
func (g *chaosRig) engineContainers(id int64) []string {
	var out []string
	for _, l := range g.engineLeftovers(id) {
		if strings.HasPrefix(l, "ps ") {
			out = append(out, l)
		}
	}
	return out
}

// jobAttemptedAfter reports when run id's job of kind was last attempted,
// if after since.
func (g *chaosRig) jobAttemptedAfter(id int64, kind string, since time.Time) (time.Time, bool) {
	var at *time.Time
	err := g.db.SQL.QueryRowContext(context.Background(),
		`SELECT max(attempted_at) FROM river_job WHERE kind = $1 AND (args->>'run_id')::bigint = $2`, kind, id).Scan(&at)
	if err != nil || at == nil || !at.After(since) {
		return time.Time{}, false
	}
	return *at, true
}

// processesUnder lists the processes whose command line names dir (a
// dead worker's QEMU or tool).
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, dir) {
			out = append(out, fmt.Sprintf("process %s: %.120s", e.Name(), cmd))
		}
	}
	return out
}

// sigterm stops the worker gracefully (WORKER_STOP_GRACE=0s: running
// builds are interrupted at once) during BUILDING; the run goes back to
// the queue and the same worker, started again, completes it.
func (g *chaosRig) sigterm(row *chaosRow) {
	dir := g.t.TempDir()
	a := g.startWorker(workerOpts{dataDir: dir})
	id, sha := g.newRun("sigterm")
	g.waitStep(id, run.Building, 15*time.Minute, a)
	g.settle(id, run.Building)
	faultAt := time.Now()
	a.stop(g.t)
	if r := g.run(id); r.Status != run.StatusPending || r.RetryReason != run.ReasonInterrupted {
		g.t.Errorf("after SIGTERM run %d is %s (%q), want %s with %q\n%s", id, r.Status, r.RetryReason, run.StatusPending, run.ReasonInterrupted, a.log())
	}
	a2 := g.startWorker(workerOpts{dataDir: dir})
	g.waitPickedUp(row, id, faultAt, a2)
	row.details = "stopped with WORKER_STOP_GRACE=0s; the same worker restarted"
	g.finish(row, id, sha, faultAt, 5*time.Minute, []string{dir}, a2)
	a2.stop(g.t)
}

// sigstop pauses the worker (SIGSTOP) during BUILDING for longer than
// WORKER_DEAD_AFTER: a second worker rescues the run; once that one is in
// the ISO step the paused worker resumes (SIGCONT). It must not touch the
// run, its artifacts or its check run again: the run completes with the
// second worker's artifacts.
func (g *chaosRig) sigstop(row *chaosRow) {
	dirA, dirB := g.t.TempDir(), g.t.TempDir()
	a := g.startWorker(workerOpts{dataDir: dirA})
	id, sha := g.newRun("sigstop")
	g.waitStep(id, run.Building, 15*time.Minute, a)
	g.settle(id, run.Building)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		g.t.Fatal(err)
	}
	faultAt := time.Now()
	b := g.startWorker(workerOpts{dataDir: dirB})
	g.waitPickedUp(row, id, faultAt, b)
	g.waitStep(id, run.ISOGenerating, 10*time.Minute, b)
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		g.t.Fatal(err)
	}
	g.finish(row, id, sha, faultAt, 5*time.Minute, []string{dirB}, a, b)
	row.details = "paused past WORKER_DEAD_AFTER, resumed while the rescuer was in ISO_GENERATING"
	select {
	case <-a.done:
		a.done <- nil
		row.details += "; the paused worker exited when it found itself declared lost"
	case <-time.After(30 * time.Second):
		g.t.Errorf("the resumed worker did not exit after it was declared lost\n%s", a.log())
	}
	b.stop(g.t)
}

// special runs the faults that need a service of their own (chaos_services_test.go).
func (g *chaosRig) special(row *chaosRow, fault string) {
	switch fault {
	case "enospc-ISO_GENERATING":
		g.enospc(row)
	case "postgres-restart":
		g.postgresRestart(row)
	case "dockerd-restart-BUILDING":
		g.dockerdRestart(row)
	default:
		g.t.Fatalf("unknown fault %s", fault)
	}
}
