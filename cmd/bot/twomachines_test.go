package main

import (
	"bytes"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/artifacts/artifactstest"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// fakeEngineEnv, set in a child process's environment, makes the test
// binary run the bot's CLI (os.Args[1:]) over a fake engine: a real
// `bot worker` process whose builds take milliseconds.
const fakeEngineEnv = "LINUX_BUILDER_TEST_FAKE_ENGINE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEngineEnv) == "1" {
		engineParts = fakeEngineParts
		os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(chaosEngineEnv) == "1" {
		engineParts = chaosEngineParts
		os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeEngineParts stands in for the Docker engine, the ISO builder and
// the boot tester; everything else about the worker is real.
func fakeEngineParts(_ context.Context, _ pipelineFlags, cfg *pipeline.Config) (func(), error) {
	cfg.Builder, cfg.ISO, cfg.Boot, cfg.Firmwares = fakeEngine{}, isoBuilder{}, fakeEngine{}, []pipeline.Firmware{pipeline.BIOS}
	return func() {}, nil
}

type fakeEngine struct{}

func (fakeEngine) Build(_ context.Context, req pipeline.BuildRequest, log func(string)) (string, error) {
	log("fake build of " + req.Tag)
	return "sha256:" + strings.Repeat("f", 64), nil
}

// Save writes a 3 MiB image: more than one read buffer, less than a part.
func (fakeEngine) Save(_ context.Context, _ string, w io.Writer) error {
	_, err := w.Write(bytes.Repeat([]byte("fake image layer "), 3<<20/17))
	return err
}

func (fakeEngine) Remove(context.Context, string) error { return nil }

func (e fakeEngine) Boot(_ context.Context, req pipeline.BootRequest, _ func(string)) (time.Duration, error) {
	return time.Millisecond, os.WriteFile(req.SerialLog, []byte(req.Marker+"\n"), 0o640)
}

// isoBuilder is the fake ISO step (fakeEngine's Build is the image's).
type isoBuilder struct{}

func (isoBuilder) Build(_ context.Context, req pipeline.ISORequest, _ func(string)) error {
	return os.WriteFile(req.Output, []byte("fake ISO with "+req.Marker), 0o640)
}

// worker is a `bot worker` child process.
type worker struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (w *worker) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.Write(p)
}

func (w *worker) log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// stop sends SIGTERM and waits for the worker to exit.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	if w.cmd.ProcessState != nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Errorf("worker did not stop on SIGTERM\n%s", w.log())
	}
}

// startWorker runs `bot worker` on dataDir with env on top of a clean
// environment (no GitHub, AWS or store settings of the caller's).
func startWorker(t *testing.T, dataDir string, env ...string) *worker {
	t.Helper()
	w := &worker{done: make(chan error, 1)}
	w.cmd = exec.Command(os.Args[0], "worker", "--workers", "1", "--data-dir", dataDir, "--log-format", "json", "--log-level", "info")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "ARTIFACT_") ||
			k == "DATABASE_URL" || k == "DATA_DIR" {
			continue
		}
		w.cmd.Env = append(w.cmd.Env, kv)
	}
	w.cmd.Env = append(append(w.cmd.Env, fakeEngineEnv+"=1"), env...)
	w.cmd.Stdout, w.cmd.Stderr = w, w
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, logs ...*worker) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, w := range logs {
				fmt.Fprintf(&b, "--- worker %d:\n%s\n", i, w.log())
			}
			t.Fatalf("timed out waiting for %s\n%s", what, b.String())
		}
	}
}

// regularFiles lists the regular files under dir.
func regularFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Two machines in one test: two `bot worker` processes with their own data
// directories share only PostgreSQL and an S3-compatible store. Worker A
// (no GitHub App: it builds only) builds a run; its data directory is then
// removed and A stopped. Worker B (with the App) publishes A's run from
// the store, and a second run of the same spec on B is a cache hit that
// reuses A's artifacts through the store; B's disk never holds A's files.
func TestTwoMachinesShareOnlyTheDatabaseAndTheStore(t *testing.T) {
	ctx := context.Background()
	db := storetest.Postgres(t, nil)
	s3 := artifactstest.NewS3(t)
	shared := append(artifactstest.Env(), "DATABASE_URL="+db.ConnURL(), "ARTIFACT_STORE="+s3.URL(artifactstest.Bucket))
	spec, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fake := githubtest.New(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	app := []string{"GITHUB_APP_ID=1", "GITHUB_API_URL=" + fake.APIURL(),
		"GITHUB_PRIVATE_KEY=" + string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))}
	ins, err := queue.NewInserter(db, queue.InserterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	newRun := func(delivery string) int64 {
		t.Helper()
		inst := int64(7)
		d := &store.Delivery{AppID: 1, DeliveryID: delivery, Event: "push", Repo: "octo/repo", Outcome: store.OutcomeQueued, PayloadSHA256: delivery}
		res, err := db.Intake(ctx, &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Run: &store.Run{
			Trigger: run.TriggerPush, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA(delivery),
			SpecPath: "linux-build.yaml", SpecSource: string(spec)}}}, ins)
		if err != nil || res.RunID == 0 {
			t.Fatalf("intake: %+v, %v", res, err)
		}
		return res.RunID
	}
	status := func(id int64) run.Status {
		r, err := db.Run(ctx, id)
		if err != nil {
			return ""
		}
		return r.Status
	}

	dirA, dirB := t.TempDir(), t.TempDir()
	a := startWorker(t, dirA, shared...)
	first := newRun("two-machines-1")
	waitFor(t, 2*time.Minute, "worker A to complete run 1", func() bool { return status(first).Terminal() }, a)
	if s := status(first); s != run.StatusSuccess {
		r, _ := db.Run(ctx, first)
		t.Fatalf("run 1 ended %s: %s\n%s", s, r.FailureReason, a.log())
	}
	a.stop(t)
	arts, err := db.Artifacts(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, x := range arts {
		if x.Key == "" || x.Location != "" {
			t.Fatalf("run 1's %s recorded with key %q, location %q: want a key only", x.Name, x.Key, x.Location)
		}
		recorded[x.Name] = x.SHA256
	}
	// Machine A is gone, and its disk with it.
	if err := os.RemoveAll(dirA); err != nil {
		t.Fatal(err)
	}

	b := startWorker(t, dirB, append(shared, app...)...)
	var rel githubtest.Release
	waitFor(t, 2*time.Minute, "worker B to publish run 1", func() bool {
		for _, r := range fake.Releases() {
			if strings.HasSuffix(r.Tag, fmt.Sprintf("-%d", first)) && len(r.Assets) == len(recorded) {
				rel = r
				return true
			}
		}
		return false
	}, b)
	for _, x := range rel.Assets {
		if want := recorded[x.Name]; x.State != "uploaded" || x.Digest != "sha256:"+want {
			t.Fatalf("release asset %s: %s %s, want the recorded sha256 %s", x.Name, x.State, x.Digest, want)
		}
	}

	t.Logf("worker B published run %d (built by A): %d assets", first, len(rel.Assets))

	second := newRun("two-machines-2")
	waitFor(t, 2*time.Minute, "worker B to complete run 2", func() bool { return status(second).Terminal() }, b)
	if s := status(second); s != run.StatusSuccess {
		r, _ := db.Run(ctx, second)
		t.Fatalf("run 2 ended %s: %s\n%s", s, r.FailureReason, b.log())
	}
	logs, err := db.Logs(ctx, second, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, l := range logs {
		all.WriteString(l.Message + "\n")
	}
	if !strings.Contains(all.String(), fmt.Sprintf("cache hit: run %d built the same context", first)) || strings.Contains(all.String(), "fake build of") {
		t.Fatalf("run 2 on B was not a cache hit of run 1:\n%s", all.String())
	}
	arts2, err := db.Artifacts(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range arts2 {
		if x.Name == "image.tar.zst" || x.Name == "linux.iso" {
			if x.SHA256 != recorded[x.Name] || !strings.HasPrefix(x.Key, fmt.Sprintf("runs/%d/", second)) {
				t.Fatalf("run 2's %s: key %q sha256 %s, want its own copy of run 1's %s", x.Name, x.Key, x.SHA256, recorded[x.Name])
			}
		}
	}
	waitFor(t, time.Minute, "worker B to publish run 2", func() bool {
		for _, r := range fake.Releases() {
			if strings.HasSuffix(r.Tag, fmt.Sprintf("-%d", second)) && len(r.Assets) == len(arts2) {
				return true
			}
		}
		return false
	}, b)
	t.Logf("run %d on B: cache hit of run %d, %d artifacts copied in the store", second, first, len(arts2))
	b.stop(t)
	if left := regularFiles(dirB); len(left) > 0 {
		t.Fatalf("machine B's data directory holds files: %v", left)
	}
}

// checkSHA is a commit SHA for a test delivery.
func checkSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:20])
}
