package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// The dockerd-restart fault. The machine's Docker engine is shared (other
// tests, other builds): it is never restarted. The fault starts a private
// dockerd of its own instead — its own data root (under /var/tmp: overlay2
// needs a real file system, not tmpfs), exec root, pid file and socket,
// with no bridge and no iptables rules, in a network namespace of its own
// (a dockerd told --bridge=none deletes the interface docker0 as it
// starts: in the host's namespace that is the shared engine's bridge) —
// and kills it under a build.

// offlineSpec is a spec whose build needs no network: its packages are the
// shared system image's, it has no SSH server, and its postInstall script
// (newRun's, with the rig's script) only writes and sleeps. The private
// engine has no network for RUN steps (--bridge=none): it gets the base
// and system images from the shared engine instead.
const offlineSpec = `name: chaos-offline
base: debian
release: bookworm
architecture: x86_64
kernel:
  version: lts
init: systemd
packages:
  - less
`

// sleepMarker is the line the build's postInstall step prints before it
// sleeps: the fault lands while that RUN step runs.
const sleepMarker = "chaos: the RUN step sleeps"

// privateDockerd is a Docker engine of the test's own.
type privateDockerd struct {
	g    *chaosRig
	dir  string
	cmd  *exec.Cmd
	done chan error
	// up is how long its last start took to answer.
	up time.Duration
}

// startDockerd starts a private dockerd; t.Cleanup stops it and removes
// its directory (its mounts first).
func (g *chaosRig) startDockerd() (*privateDockerd, bool) {
	g.t.Helper()
	for _, tool := range []string{"dockerd", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			g.need("dockerd-restart: no %s on PATH: %v", tool, err)
			return nil, false
		}
	}
	if os.Geteuid() != 0 {
		g.need("dockerd-restart: a private dockerd needs root")
		return nil, false
	}
	dir, err := os.MkdirTemp("/var/tmp", "chaos-dockerd-")
	if err != nil {
		g.t.Fatal(err)
	}
	d := &privateDockerd{g: g, dir: dir}
	g.t.Cleanup(d.remove) // after stop (cleanups run last first)
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		g.t.Fatal(err)
	}
	d.start()
	g.t.Cleanup(d.stop)
	return d, true
}

// host is the engine's address for DOCKER_HOST and docker -H.
func (d *privateDockerd) host() string { return "unix://" + filepath.Join(d.dir, "docker.sock") }

// start starts dockerd on the directory (again, after a kill: same data
// root) and waits, at most 2 minutes, for it to answer.
func (d *privateDockerd) start() {
	d.g.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.g.t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command("unshare", "--net", "--", "dockerd", "--config-file", filepath.Join(d.dir, "daemon.json"),
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"), "-H", d.host(),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		d.g.t.Fatalf("dockerd-restart: start dockerd: %v", err)
	}
	d.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(d.cmd, d.done)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		out, err := d.docker("version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err == nil {
			d.up = time.Since(start)
			return
		}
		select {
		case werr := <-d.done:
			d.done <- werr
			d.g.t.Fatalf("dockerd-restart: the private dockerd exited: %v\n%s", werr, d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			d.g.t.Fatalf("dockerd-restart: the private dockerd does not answer after 2m: %v: %s\n%s", err, out, d.logTail())
		}
	}
}

// docker is the docker CLI on this engine.
func (d *privateDockerd) docker(args ...string) *exec.Cmd {
	return exec.Command("docker", append([]string{"-H", d.host()}, args...)...)
}

func (d *privateDockerd) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// kill9 kills dockerd at once; its containerd dies with it (the build's
// container shim stays, as after a crash). It returns once that
// containerd is gone, as a service manager's restart delay would: a
// dockerd started while it is still dying adopts it, and then times out
// waiting for it.
func (d *privateDockerd) kill9() {
	pid, _ := os.ReadFile(filepath.Join(d.dir, "exec", "containerd", "containerd.pid"))
	_ = d.cmd.Process.Kill()
	<-d.done
	proc := filepath.Join("/proc", strings.TrimSpace(string(pid)))
	for deadline := time.Now().Add(time.Minute); len(pid) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(proc); err != nil {
			return
		}
	}
}

// stop stops dockerd gracefully (a minute at most, then SIGKILL).
func (d *privateDockerd) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// remove unmounts what the engine left mounted under its directory
// (overlay layers, network namespaces, the data root's own bind mount),
// deepest first and lazily when busy, ends the processes it left (by
// pid: shims of killed containers), and removes the directory.
func (d *privateDockerd) remove() {
	for _, p := range processesUnder(d.dir) {
		var pid int
		if _, err := fmt.Sscanf(p, "process %d:", &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	mounts := mountsUnder(d.dir)
	for _, m := range mounts {
		if out, err := exec.Command("umount", m).CombinedOutput(); err != nil {
			if out2, err2 := exec.Command("umount", "-l", m).CombinedOutput(); err2 != nil {
				d.g.t.Errorf("dockerd-restart: umount %s: %v: %s; %v: %s", m, err, out, err2, out2)
			}
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		d.g.t.Errorf("dockerd-restart: remove the private engine: %v", err)
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// load copies images from the shared engine (read only there) into this
// one: docker save | docker load, bounded.
func (d *privateDockerd) load(refs ...string) {
	d.g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", append([]string{"save"}, refs...)...)
	load := exec.CommandContext(ctx, "docker", "-H", d.host(), "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		d.g.t.Fatal(err)
	}
	load.Stdin = pipe
	var saveErr strings.Builder
	save.Stderr = &saveErr
	if err := save.Start(); err != nil {
		d.g.t.Fatal(err)
	}
	out, lerr := load.CombinedOutput()
	serr := save.Wait()
	if lerr != nil || serr != nil {
		d.g.t.Fatalf("dockerd-restart: copy %v into the private engine: save: %v %s; load: %v %s", refs, serr, saveErr.String(), lerr, out)
	}
}

// systemTag is the shared system image the spec src builds FROM.
func systemTag(g *chaosRig, src string) string {
	g.t.Helper()
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		g.t.Fatal(err)
	}
	doc, diags := spec.Parse("linux-build.yaml", []byte(src))
	if diags.HasErrors() {
		g.t.Fatalf("dockerd-restart: the offline spec: %v", diags.Errors())
	}
	bctx, _, err := r.ForPipeline(render.Options{}).Render(doc, diags)
	if err != nil {
		g.t.Fatal(err)
	}
	si, ok := bctx.(pipeline.SystemImager)
	if !ok {
		g.t.Fatal("dockerd-restart: the offline spec has no system image")
	}
	tag, _ := si.System()
	return tag
}

// dockerdRestart kills a private dockerd (SIGKILL) while a run's build is
// in a RUN step, then starts it again on the same data root: the attempt
// fails as an engine loss, the run goes back to the queue with
// run.ReasonEngineLost and its retried job (the attempt counted) completes
// it on the restarted engine.
func (g *chaosRig) dockerdRestart(row *chaosRow) {
	// The shared engine's bridge must outlive the private engine.
	if _, err := net.InterfaceByName("docker0"); err == nil {
		g.t.Cleanup(func() {
			if _, err := net.InterfaceByName("docker0"); err != nil {
				g.t.Errorf("dockerd-restart: the shared engine's bridge docker0 is gone after the private engine: %v", err)
			}
		})
	}
	d, ok := g.startDockerd()
	if !ok {
		return
	}
	priv := *g
	priv.dockerHost, priv.spec = d.host(), offlineSpec
	priv.script = "echo '" + sleepMarker + "'\nsleep 20"
	tag := systemTag(g, offlineSpec)
	prep := time.Now()
	warm := ""
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", tag).CombinedOutput(); err != nil {
		// The shared engine builds it first, as any worker would: a
		// run of the same spec there (needs Debian's mirror).
		warm = "; the shared engine built the system image first"
		g.warmSystem(fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out))))
	}
	d.load("debian:bookworm", tag)
	prepTook := time.Since(prep)
	dir := g.t.TempDir()
	a := priv.startWorker(workerOpts{dataDir: dir, args: []string{"--build-network", "bridge"}, env: []string{"PACKAGE_INDEX_TTL=off"}})
	id, sha := priv.newRun("dockerd-restart")
	priv.waitStep(id, run.Building, 10*time.Minute, a)
	waitFor(g.t, 5*time.Minute, fmt.Sprintf("run %d's build to sleep in its RUN step", id), func() bool { return priv.logged(id, sleepMarker) }, a)
	d.kill9()
	faultAt := time.Now()
	d.start()
	restart := d.up
	priv.waitPickedUp(row, id, faultAt, a)
	if r := priv.run(id); r.RetryReason != run.ReasonEngineLost || !priv.logged(id, run.ReasonEngineLost+" during BUILDING") {
		g.t.Errorf("dockerd-restart: run %d retried with reason %q (logged: %v), want %q", id, r.RetryReason, priv.logged(id, run.ReasonEngineLost), run.ReasonEngineLost)
	}
	priv.finish(row, id, sha, faultAt, 5*time.Minute, []string{dir}, a)
	attempt := priv.jobAttempt(id)
	if attempt != 2 {
		g.t.Errorf("dockerd-restart: run %d's job completed at attempt %d, want 2 (the lost attempt counted)", id, attempt)
	}
	row.details = fmt.Sprintf("private dockerd killed (-9) in a RUN step, restarted on its data root (answered after %s); job completed at attempt %d; images copied in %s%s",
		restart.Round(100*time.Millisecond), attempt, prepTook.Round(time.Second), warm)
	if out, err := d.docker("ps", "-aq", "--filter", "status=exited").CombinedOutput(); err == nil && len(strings.Fields(string(out))) > 0 {
		row.details += fmt.Sprintf("; %d unlabelled exited build container(s) of the killed build stay in the engine", len(strings.Fields(string(out))))
	}
	a.stop(g.t)
}

// warmSystem builds the system image on the shared engine with one run of
// the offline spec there (the rig's own repository and settings).
func (g *chaosRig) warmSystem(why string) {
	g.t.Helper()
	g.t.Logf("dockerd-restart: the shared engine has no system image of the offline spec (%s): building it with a run", why)
	warm := *g
	warm.spec = offlineSpec
	dir := g.t.TempDir()
	w := warm.startWorker(workerOpts{dataDir: dir})
	id, _ := warm.newRun("dockerd-restart-warm")
	warm.waitEnd(id, 20*time.Minute, w)
	if r := warm.run(id); r.Status != run.StatusSuccess {
		g.t.Fatalf("dockerd-restart: the warm-up run %d ended %s: %s", id, r.Status, r.FailureReason)
	}
	w.stop(g.t)
}

// logged reports whether run id's log has a line containing s.
func (g *chaosRig) logged(id int64, s string) bool {
	var n int
	err := g.db.SQL.QueryRowContext(context.Background(),
		`SELECT count(*) FROM run_logs WHERE run_id = $1 AND strpos(message, $2) > 0`, id, s).Scan(&n)
	return err == nil && n > 0
}

// jobAttempt is the attempt run id's build job is at.
func (g *chaosRig) jobAttempt(id int64) int {
	var attempt int
	if err := g.db.SQL.QueryRowContext(context.Background(),
		`SELECT j.attempt FROM river_job j JOIN runs r ON r.job_id = j.id WHERE r.id = $1`, id).Scan(&attempt); err != nil {
		g.t.Errorf("job of run %d: %v", id, err)
	}
	return attempt
}
