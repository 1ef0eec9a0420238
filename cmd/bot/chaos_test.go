package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// The chaos suite: real `bot worker` processes (this test binary, over the
// real Docker engine, ISO builder and QEMU) on PostgreSQL, a shared file
// artifact store and the fake GitHub, with faults injected while runs are
// built. CHAOS_FAULTS selects the faults (comma-separated, or "all");
// the default is the CI subset. scripts/chaos.sh runs them all and prints
// the table; see the README's "Chaos suite".

// chaosEngineEnv, set in a worker's environment, makes the test binary
// run the bot's CLI with the real engine and, when holdAtEnv names a
// state, a reporter that holds the run when it enters that state (so that
// a fault lands in a step that takes milliseconds).
const (
	chaosEngineEnv = "LINUX_BUILDER_TEST_CHAOS_ENGINE"
	holdAtEnv      = "LINUX_BUILDER_TEST_HOLD_AT"
)

// chaosCISubset is what CI runs: about 7 minutes with a warm layer cache
// (the dockerd restart about 2 of them, its images copied from the shared
// engine).
const chaosCISubset = "github-502,kill9-BUILDING,sigterm-BUILDING,dockerd-restart-BUILDING"

// chaosAll is every fault, in the order they run.
var chaosAll = []string{
	"github-502",
	"kill9-VALIDATING", "kill9-GENERATING", "kill9-BUILDING", "kill9-ISO_GENERATING", "kill9-BOOT_TESTING", "kill9-publish",
	"sigterm-BUILDING", "sigstop-BUILDING", "enospc-ISO_GENERATING", "postgres-restart", "dockerd-restart-BUILDING",
}

func chaosEngineParts(ctx context.Context, f pipelineFlags, cfg *pipeline.Config) (func(), error) {
	closeEngine, err := dockerParts(ctx, f, cfg)
	if err != nil {
		return nil, err
	}
	if at := os.Getenv(holdAtEnv); at != "" {
		cfg.Reporters = append(cfg.Reporters, holdAt{state: run.State(at)})
	}
	return closeEngine, nil
}

// holdAt blocks the run that enters state until its context ends.
type holdAt struct{ state run.State }

func (h holdAt) Transition(ctx context.Context, id int64, _, to run.State, _ string) {
	if to == h.state {
		fmt.Fprintf(os.Stderr, "chaos: holding run %d at %s\n", id, to)
		<-ctx.Done()
	}
}

func (holdAt) Log(context.Context, pipeline.LogLine) {}

// chaosRow is one line of the table.
type chaosRow struct {
	fault              string
	runs, completed    int
	recover, complete  time.Duration
	leftovers, details string
}

// chaosRig is what the faults share: the database, the fake GitHub, the
// artifact store and the workers' settings.
type chaosRig struct {
	t          *testing.T
	db         *store.DB
	dbURL      string
	fake       *githubtest.Server
	ins        *queue.Inserter
	app        []string
	storeDir   string
	spec       string
	repo       string
	dockerHost string
	// script is more of the runs' postInstall script (shell lines).
	script string
	seq    int
}

func newChaosRig(t *testing.T) *chaosRig {
	t.Helper()
	spec, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := &chaosRig{t: t, fake: githubtest.New(t), storeDir: t.TempDir(), spec: string(spec),
		repo: fmt.Sprintf("linux-builder-chaos-%d", os.Getpid())}
	g.useDB(storetest.Postgres(t, nil))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g.app = []string{"GITHUB_APP_ID=1", "GITHUB_API_URL=" + g.fake.APIURL(),
		"GITHUB_PRIVATE_KEY=" + string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))}
	return g
}

func (g *chaosRig) useDB(db *store.DB) {
	g.t.Helper()
	ins, err := queue.NewInserter(db, queue.InserterConfig{})
	if err != nil {
		g.t.Fatal(err)
	}
	g.db, g.dbURL, g.ins = db, db.ConnURL(), ins
}

// newRun queues a GitHub push run of the small spec with a script of its
// own, so that its build context is new (no cache hit) while the shared
// system image and the package layers come from the engine's cache.
func (g *chaosRig) newRun(label string) (int64, string) {
	g.t.Helper()
	g.seq++
	delivery := fmt.Sprintf("chaos-%s-%d-%d", label, g.seq, time.Now().UnixNano())
	src := g.spec + fmt.Sprintf("postInstall:\n  scripts:\n    - name: chaos.sh\n      run: |\n        #!/bin/sh\n        echo %q > /etc/chaos-run\n", delivery)
	for _, line := range strings.Split(strings.TrimSpace(g.script), "\n") {
		if line != "" {
			src += "        " + line + "\n"
		}
	}
	inst := int64(7)
	sha := checkSHA(delivery)
	d := &store.Delivery{AppID: 1, DeliveryID: delivery, Event: "push", Repo: "octo/repo", Outcome: store.OutcomeQueued, PayloadSHA256: delivery}
	res, err := g.db.Intake(context.Background(), &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Run: &store.Run{
		Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: sha,
		SpecPath: "linux-build.yaml", SpecSource: src}}}, g.ins)
	if err != nil || res.RunID == 0 {
		g.t.Fatalf("intake: %+v, %v", res, err)
	}
	return res.RunID, sha
}

// workerOpts are a chaos worker's settings beyond the shared ones.
type workerOpts struct {
	holdAt  run.State
	boot    bool
	env     []string
	args    []string
	dataDir string
}

func (g *chaosRig) startWorker(o workerOpts) *worker {
	g.t.Helper()
	args := []string{"worker", "--workers", "1", "--data-dir", o.dataDir, "--log-format", "json", "--log-level", "info",
		"--image-repo", g.repo, "--boot-timeout", "240"}
	if o.boot {
		args = append(args, "--firmware", "bios")
	} else {
		args = append(args, "--no-boot-test")
	}
	args = append(args, o.args...)
	w := &worker{done: make(chan error, 1)}
	w.cmd = exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "ARTIFACT_") ||
			strings.HasPrefix(k, "WORKER_") || k == "DATABASE_URL" || k == "DATA_DIR" || k == "DOCKER_HOST" {
			continue
		}
		w.cmd.Env = append(w.cmd.Env, kv)
	}
	w.cmd.Env = append(w.cmd.Env, chaosEngineEnv+"=1", "DATABASE_URL="+g.dbURL, "ARTIFACT_STORE=file://"+g.storeDir,
		"WORKER_DEAD_AFTER=30s", "WORKER_STOP_GRACE=0s")
	w.cmd.Env = append(w.cmd.Env, g.app...)
	if g.dockerHost != "" {
		w.cmd.Env = append(w.cmd.Env, "DOCKER_HOST="+g.dockerHost)
	}
	if o.holdAt != "" {
		w.cmd.Env = append(w.cmd.Env, holdAtEnv+"="+string(o.holdAt))
	}
	w.cmd.Env = append(w.cmd.Env, o.env...)
	w.cmd.Stdout, w.cmd.Stderr = w, w
	if err := w.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	g.t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
		w.stop(g.t)
	})
	return w
}

// kill9 kills w at once and waits for it to be gone.
func (w *worker) kill9() {
	_ = w.cmd.Process.Kill()
	<-w.done
	w.done <- nil // stop's select sees it ended
}

func (g *chaosRig) run(id int64) *store.Run {
	r, err := g.db.Run(context.Background(), id)
	if err != nil {
		return &store.Run{}
	}
	return r
}

// waitStep waits for run id to be in state step, and returns when.
func (g *chaosRig) waitStep(id int64, step run.State, d time.Duration, logs ...*worker) time.Time {
	g.t.Helper()
	waitFor(g.t, d, fmt.Sprintf("run %d to reach %s", id, step), func() bool {
		r := g.run(id)
		if r.Status.Terminal() && step != run.Complete {
			g.t.Fatalf("run %d ended %s at %s (%s) while waiting for %s", id, r.Status, r.Step, r.FailureReason, step)
		}
		return r.Step == step
	}, logs...)
	return time.Now()
}

// waitEnd waits for run id to end and returns when it did.
func (g *chaosRig) waitEnd(id int64, d time.Duration, logs ...*worker) time.Time {
	g.t.Helper()
	waitFor(g.t, d, fmt.Sprintf("run %d to end", id), func() bool { return g.run(id).Status.Terminal() }, logs...)
	return time.Now()
}

// pickedUpAt is when the run's current attempt entered VALIDATING, if it
// did after since.
func (g *chaosRig) pickedUpAt(id int64, since time.Time) (time.Time, bool) {
	steps, err := g.db.Steps(context.Background(), id)
	if err != nil {
		return time.Time{}, false
	}
	for _, s := range steps {
		if s.Step == run.Validating && s.StartedAt.After(since) {
			return s.StartedAt, true
		}
	}
	return time.Time{}, false
}

// engineLeftovers lists the containers and images the engine still holds
// for run id (labelled with its run key: its id and creation time, so
// another database's run 1 never matches).
func (g *chaosRig) engineLeftovers(id int64) []string {
	r := g.run(id)
	key := pipeline.RunKey(&pipeline.RunRecord{ID: id, CreatedAt: r.CreatedAt})
	var out []string
	for _, what := range [][]string{{"ps", "-a"}, {"images"}} {
		args := append(append([]string{}, what...), "--filter", "label="+pipeline.LabelRunKey+"="+key, "--format", "{{.ID}}")
		if g.dockerHost != "" {
			args = append([]string{"-H", g.dockerHost}, args...)
		}
		b, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			out = append(out, fmt.Sprintf("docker %s: %v: %s", what[0], err, b))
			continue
		}
		for _, l := range strings.Fields(string(b)) {
			out = append(out, fmt.Sprintf("%s %s (%s)", what[0], l, key))
		}
	}
	return out
}

// storeProblems checks the artifact store against the database: every
// object is a recorded artifact with the recorded sha256 (no partial, no
// orphan, no object overwritten by a stale attempt).
func (g *chaosRig) storeProblems() []string {
	var arts []store.Artifact
	if err := g.db.Bun.NewSelect().Model(&arts).Scan(context.Background()); err != nil {
		return []string{err.Error()}
	}
	want := map[string]string{}
	for _, a := range arts {
		if a.Key != "" {
			want[a.Key] = a.SHA256
		}
	}
	var out []string
	_ = filepath.WalkDir(g.storeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".attrs") {
			return nil
		}
		key, _ := filepath.Rel(g.storeDir, p)
		sum, ok := want[key]
		switch {
		case !ok:
			out = append(out, "orphan object "+key)
		case fileSHA256(p) != sum:
			out = append(out, "object "+key+" does not match its recorded sha256")
		}
		return nil
	})
	return out
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// published waits for run id's check run (by its head SHA) to be
// completed successfully and its release to hold every artifact with its
// recorded digest; it returns what is missing after d.
func (g *chaosRig) published(id int64, sha string, d time.Duration) string {
	var missing string
	deadline := time.Now().Add(d)
	for {
		missing = g.publishGap(id, sha)
		if missing == "" || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(time.Second)
	}
}

func (g *chaosRig) publishGap(id int64, sha string) string {
	var cr *githubtest.CheckRun
	for _, c := range g.fake.CheckRuns() {
		if c.HeadSHA == sha {
			cr = &c
		}
	}
	if cr == nil {
		return "no check run"
	}
	// Without the boot test a successful run is partial: neutral.
	want := "success"
	if g.run(id).PartialReason != "" {
		want = "neutral"
	}
	if cr.Status != "completed" || cr.Conclusion != want {
		return fmt.Sprintf("check run %s/%s, want completed/%s", cr.Status, cr.Conclusion, want)
	}
	arts, err := g.db.Artifacts(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	for _, rel := range g.fake.Releases() {
		// The fake may hold another database's run of the same id (the
		// PostgreSQL fault's): the release is the one of this commit.
		if !strings.HasSuffix(rel.Tag, fmt.Sprintf("-%d", id)) || rel.Target != sha {
			continue
		}
		got := map[string]string{}
		for _, a := range rel.Assets {
			if a.State == "uploaded" {
				got[a.Name] = a.Digest
			}
		}
		for _, a := range arts {
			if got[a.Name] != "sha256:"+a.SHA256 {
				return fmt.Sprintf("release asset %s: %q, want sha256:%s", a.Name, got[a.Name], a.SHA256)
			}
		}
		return ""
	}
	return "no release"
}

// finish checks run id after a fault: it completed, its check run and
// release caught up, and nothing is left in the engine, the store or the
// given data directories; it fills row.
func (g *chaosRig) finish(row *chaosRow, id int64, sha string, faultAt time.Time, publishWait time.Duration, dirs []string, logs ...*worker) (published time.Time) {
	g.t.Helper()
	row.runs++
	end := g.waitEnd(id, 15*time.Minute, logs...)
	r := g.run(id)
	if r.Status != run.StatusSuccess {
		g.t.Errorf("%s: run %d ended %s: %s", row.fault, id, r.Status, r.FailureReason)
		row.details = "ended " + string(r.Status) + ": " + r.FailureReason
		return time.Time{}
	}
	row.complete = end.Sub(faultAt)
	if gap := g.published(id, sha, publishWait); gap != "" {
		g.t.Errorf("%s: run %d not published: %s", row.fault, id, gap)
		row.details = gap
		return time.Time{}
	}
	published = time.Now()
	row.completed++
	var left []string
	left = append(left, g.engineLeftovers(id)...)
	left = append(left, g.storeProblems()...)
	for _, d := range dirs {
		for _, f := range regularFiles(d) {
			left = append(left, "file "+f)
		}
	}
	if len(left) > 0 {
		g.t.Errorf("%s: leftovers after run %d: %v", row.fault, id, left)
		row.leftovers = strings.Join(left, "; ")
	} else {
		row.leftovers = "none"
	}
	return published
}

func chaosFaults(t *testing.T) []string {
	v := os.Getenv("CHAOS_FAULTS")
	switch v {
	case "":
		return strings.Split(chaosCISubset, ",")
	case "all":
		return chaosAll
	}
	for _, f := range strings.Split(v, ",") {
		if !contains(chaosAll, f) {
			t.Fatalf("CHAOS_FAULTS: unknown fault %q (want some of %s, or all)", f, strings.Join(chaosAll, ","))
		}
	}
	return strings.Split(v, ",")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// chaosEnv checks that the real tools are there: a missing one skips the
// suite, and fails it under CI=true.
func chaosEnv(t *testing.T) {
	t.Helper()
	need := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("the chaos suite builds real images: not with -short")
	}
	if out, err := exec.Command("docker", "image", "inspect", "debian:bookworm").CombinedOutput(); err != nil {
		need("the chaos suite needs the Docker engine with debian:bookworm (bot base import debian:bookworm): %v: %s", err, out)
	}
	for _, tool := range []string{"tar2sqfs", "grub-mkrescue", "xorriso", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			need("the chaos suite needs %s", tool)
		}
	}
}

// TestChaos injects faults into real workers building real runs and
// checks that every run completes, is published, and leaves nothing
// behind. It prints the table (and writes it to CHAOS_TABLE when set).
func TestChaos(t *testing.T) {
	chaosEnv(t)
	faults := chaosFaults(t)
	g := newChaosRig(t)
	outage := 30 * time.Second
	if v := os.Getenv("CHAOS_GITHUB_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_GITHUB_OUTAGE=%q: %v", v, err)
		}
		outage = d
	}
	var rows []*chaosRow
	defer func() { printChaosTable(t, rows) }()
	for _, f := range faults {
		row := &chaosRow{fault: f}
		rows = append(rows, row)
		kind, step, _ := strings.Cut(f, "-")
		start := time.Now()
		switch kind {
		case "github":
			g.githubOutage(row, outage)
		case "kill9":
			g.kill9(row, run.State(step))
		case "sigterm":
			g.sigterm(row)
		case "sigstop":
			g.sigstop(row)
		default:
			g.special(row, f)
		}
		t.Logf("%s done in %s", f, time.Since(start).Round(time.Second))
		if t.Failed() && os.Getenv("CHAOS_KEEP_GOING") == "" {
			return
		}
	}
}

func printChaosTable(t *testing.T, rows []*chaosRow) {
	var b strings.Builder
	b.WriteString("| fault | runs | completed | time to recover | time to COMPLETE | leftovers | notes |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		rec := "—"
		if r.recover > 0 {
			rec = r.recover.Round(100 * time.Millisecond).String()
		}
		comp := "—"
		if r.complete > 0 {
			comp = r.complete.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s |\n", r.fault, r.runs, r.completed, rec, comp, r.leftovers, r.details)
	}
	t.Logf("chaos table:\n%s", b.String())
	if p := os.Getenv("CHAOS_TABLE"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
