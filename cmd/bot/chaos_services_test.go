package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// The faults that need a service of their own: a tiny file system for
// DATA_DIR, and a PostgreSQL cluster to restart. The machine's shared
// PostgreSQL and Docker engine are never restarted: other tests use them.

// enospc puts the worker's DATA_DIR on a 160 MiB tmpfs, which the ISO step
// fills: the run fails with "no space left on device", the artifact store
// (elsewhere) is intact, and once the file system is grown the next run
// completes.
func (g *chaosRig) enospc(row *chaosRow) {
	dir := g.t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m,mode=0755", "chaos-datadir", dir).CombinedOutput(); err != nil {
		g.need("enospc: mount a tmpfs (needs root): %v: %s", err, out)
		return
	}
	g.t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			g.t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	a := g.startWorker(workerOpts{dataDir: dir})
	id, _ := g.newRun("enospc")
	g.waitStep(id, run.ISOGenerating, 15*time.Minute, a)
	faultAt := time.Now()
	end := g.waitEnd(id, 15*time.Minute, a)
	row.runs++
	r := g.run(id)
	if r.Status != run.StatusFailed || !strings.Contains(r.FailureReason, "no space left on device") {
		g.t.Errorf("enospc: run %d ended %s (%q), want FAILED with \"no space left on device\"", id, r.Status, r.FailureReason)
	}
	row.details = fmt.Sprintf("run %d FAILED after %s: %.90s", id, end.Sub(faultAt).Round(100*time.Millisecond), r.FailureReason)
	if p := g.storeProblems(); len(p) > 0 {
		g.t.Errorf("enospc: the artifact store is not intact: %v", p)
		row.leftovers = strings.Join(p, "; ")
	}
	a.stop(g.t)
	// Space returns.
	if out, err := exec.Command("mount", "-o", "remount,size=4g", dir).CombinedOutput(); err != nil {
		g.t.Fatalf("enospc: grow the tmpfs: %v: %s", err, out)
	}
	a2 := g.startWorker(workerOpts{dataDir: dir})
	next, sha := g.newRun("enospc-next")
	start := time.Now()
	g.finish(row, next, sha, start, 5*time.Minute, []string{dir}, a2)
	row.details += fmt.Sprintf("; run %d after space returned: completed", next)
	a2.stop(g.t)
}

// need skips the fault's check when a privilege or tool is missing, and
// fails under CI=true.
func (g *chaosRig) need(format string, args ...any) {
	g.t.Helper()
	if os.Getenv("CI") == "true" {
		g.t.Fatalf(format, args...)
	}
	g.t.Logf("SKIPPED: "+format, args...)
}

// pgCluster is a throw-away PostgreSQL cluster on a port of its own.
type pgCluster struct {
	bin, dir, port string
}

// startPostgres makes and starts a cluster in a temporary directory, owned
// by the postgres user (initdb refuses root), listening on 127.0.0.1 only.
func (g *chaosRig) startPostgres() (*pgCluster, bool) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		g.need("postgres-restart: no pg_ctl under /usr/lib/postgresql")
		return nil, false
	}
	dir, err := os.MkdirTemp("", "chaos-pg-")
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		g.t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c := &pgCluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: port}
	if out, err := exec.Command("chown", "postgres:", dir).CombinedOutput(); err != nil {
		g.need("postgres-restart: chown to postgres: %v: %s", err, out)
		return nil, false
	}
	if out, err := c.as("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		g.need("postgres-restart: initdb: %v: %s", err, out)
		return nil, false
	}
	if out, err := c.ctl("start"); err != nil {
		g.t.Fatalf("postgres-restart: start: %v: %s", err, out)
	}
	g.t.Cleanup(func() { _, _ = c.ctl("stop", "-m", "immediate") })
	if out, err := exec.Command("psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-c", "CREATE DATABASE chaos").CombinedOutput(); err != nil {
		g.t.Fatalf("postgres-restart: create database: %v: %s", err, out)
	}
	return c, true
}

func (c *pgCluster) as(tool string, args ...string) ([]byte, error) {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, tool)}, args...)...).CombinedOutput()
}

func (c *pgCluster) ctl(action string, extra ...string) ([]byte, error) {
	args := append([]string{action, "-D", filepath.Join(c.dir, "data"), "-w", "-t", "60", "-l", filepath.Join(c.dir, "log"),
		"-o", "-p " + c.port + " -k " + c.dir + " -c listen_addresses=127.0.0.1"}, extra...)
	return c.as("pg_ctl", args...)
}

func (c *pgCluster) url() string {
	return "postgres://postgres@127.0.0.1:" + c.port + "/chaos?sslmode=disable"
}

// postgresRestart runs a worker on a cluster of its own and restarts the
// cluster (fast shutdown: every connection cut) while the run builds.
func (g *chaosRig) postgresRestart(row *chaosRow) {
	c, ok := g.startPostgres()
	if !ok {
		return
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: c.url(), DataDir: g.t.TempDir()})
	if err != nil {
		g.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
		g.t.Fatal(err)
	}
	shared := *g
	shared.useDB(db)
	shared.storeDir = g.t.TempDir() // this database's objects only
	dir := g.t.TempDir()
	a := shared.startWorker(workerOpts{dataDir: dir})
	id, sha := shared.newRun("postgres-restart")
	shared.waitStep(id, run.Building, 15*time.Minute, a)
	shared.settle(id, run.Building)
	faultAt := time.Now()
	if out, err := c.ctl("restart", "-m", "fast"); err != nil {
		g.t.Fatalf("postgres-restart: restart: %v: %s", err, out)
	}
	row.recover = time.Since(faultAt)
	row.details = "the worker's own cluster restarted (fast) during BUILDING; recover = the restart's length"
	shared.finish(row, id, sha, faultAt, 5*time.Minute, []string{dir}, a)
	a.stop(g.t)
}
