package pipelinestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// slowBuilder builds until its context ends when block is set (a long
// docker build), at once otherwise.
type slowBuilder struct {
	block   bool
	started chan struct{}
}

func (b *slowBuilder) Build(ctx context.Context, _ pipeline.BuildRequest, log func(string)) (string, error) {
	log("Step 1/9 : FROM debian:bookworm")
	if b.block {
		b.started <- struct{}{}
		<-ctx.Done()
		return "sha256:partial", ctx.Err()
	}
	return "sha256:img", nil
}
func (b *slowBuilder) Save(_ context.Context, _ string, w io.Writer) error {
	_, err := w.Write([]byte("image"))
	return err
}
func (b *slowBuilder) Remove(context.Context, string) error { return nil }

// resumeRig is a database, its queue's insert side and a way to start
// workers running the real pipeline over builder.
type resumeRig struct {
	t   *testing.T
	db  *store.DB
	ins *queue.Inserter
	dir string
}

func newResumeRig(t *testing.T, db *store.DB) *resumeRig {
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &resumeRig{t: t, db: db, ins: ins, dir: t.TempDir()}
}

func (g *resumeRig) worker(id string, b pipeline.ImageBuilder) *queue.Worker {
	g.t.Helper()
	return g.workerIn(context.Background(), id, b)
}

// workerIn starts a worker with ctx as its start context, as `bot worker`
// does with the context its SIGTERM ends.
func (g *resumeRig) workerIn(ctx context.Context, id string, b pipeline.ImageBuilder) *queue.Worker {
	g.t.Helper()
	p, err := pipeline.New(pipeline.Config{Store: Store{DB: g.db}, Renderer: cacheRenderer{}, Builder: b, ArtifactsDir: g.dir, Logger: quiet})
	if err != nil {
		g.t.Fatal(err)
	}
	w, err := queue.NewWorker(g.ins, queue.WorkerConfig{Workers: 1, Runner: p, ID: id, Logger: quiet})
	if err != nil {
		g.t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		g.t.Fatal(err)
	}
	return w
}

// push records a run and its build job, as a webhook would.
func (g *resumeRig) push(sha string) int64 {
	g.t.Helper()
	d := &store.Delivery{AppID: 1, DeliveryID: "d-" + sha, Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}
	res, err := g.db.Intake(context.Background(), &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome,
		Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha, SpecSource: "base: debian\n", SpecPath: "linux-build.yaml"}}}, g.ins)
	if err != nil {
		g.t.Fatal(err)
	}
	return res.RunID
}

func (g *resumeRig) waitStatus(id int64, want run.Status) *store.Run {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rn, err := g.db.Run(context.Background(), id)
		if err == nil && rn.Status == want {
			return rn
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("run %d is not %s: %+v %v", id, want, rn, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *resumeRig) jobState(jobID int64) (state string, attempt int) {
	g.t.Helper()
	if err := g.db.SQL.QueryRowContext(context.Background(), "SELECT state, attempt FROM river_job WHERE id = "+fmt.Sprint(jobID)).Scan(&state, &attempt); err != nil {
		g.t.Fatal(err)
	}
	return state, attempt
}

// waitJobFinal waits for the job to be over: River records a job's end
// just after its worker returns.
func (g *resumeRig) waitJobFinal(jobID int64) (state string, attempt int) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, attempt = g.jobState(jobID)
		if state == "completed" || state == "cancelled" || state == "discarded" || time.Now().After(deadline) {
			return state, attempt
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *resumeRig) logged(id int64, s string) bool {
	found := false
	_ = Store{DB: g.db}.EachLog(context.Background(), id, func(l pipeline.LogLine) error {
		found = found || strings.Contains(l.Message, s)
		return nil
	})
	return found
}

// A worker stopped gracefully (SIGTERM, a deploy) in the middle of a build
// interrupts it: the run is not CANCELLED but PENDING again, saying why;
// its job is available at once (the attempt is not counted), and the next
// worker builds it from the start to COMPLETE.
func TestGracefulStopResumesTheBuildElsewhere(t *testing.T) {
	testGracefulStopResumes(t, false)
}

// `bot worker` starts its queue with the context that SIGTERM ends
// (signal.NotifyContext), and only then calls Stop: that context ending
// first must not reach the running builds as a cancel. (It did: River
// derives its jobs' contexts from Start's, so SIGTERM ended every
// in-flight run CANCELLED before Stop could mark the worker stopping.)
func TestSignalBeforeStopResumesTheBuild(t *testing.T) {
	testGracefulStopResumes(t, true)
}

func testGracefulStopResumes(t *testing.T, signalFirst bool) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		g := newResumeRig(t, db)
		slow := &slowBuilder{block: true, started: make(chan struct{}, 1)}
		sigCtx, signal := context.WithCancel(context.Background())
		defer signal()
		w1 := g.workerIn(sigCtx, "worker-1", slow)
		id := g.push("sha1")
		select {
		case <-slow.started:
		case <-time.After(30 * time.Second):
			t.Fatal("the build never started")
		}
		if signalFirst {
			signal()
			// The main goroutine wakes on the signal and logs before it
			// calls Stop: give the builds time to see the signal alone.
			time.Sleep(500 * time.Millisecond)
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := w1.Stop(stopCtx)
		cancel()
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
		rn, _ := db.Run(context.Background(), id)
		if rn.Status != run.StatusPending || rn.RetryReason != run.ReasonInterrupted {
			t.Fatalf("after the stop the run is %s (%q, retry reason %q); want PENDING, to be retried", rn.Status, rn.FailureReason, rn.RetryReason)
		}
		if !g.logged(id, run.ReasonInterrupted) {
			t.Fatal("the run's log does not say it was interrupted")
		}
		if state, attempt := g.jobState(*rn.JobID); state != "available" || attempt != 0 {
			t.Fatalf("job is %s at attempt %d, want available with the attempt not counted", state, attempt)
		}

		w2 := g.worker("worker-2", &slowBuilder{})
		t.Cleanup(func() { _ = w2.Stop(context.Background()) })
		rn = g.waitStatus(id, run.StatusSuccess)
		if state, attempt := g.waitJobFinal(*rn.JobID); state != "completed" || attempt != 1 {
			t.Fatalf("job is %s at attempt %d, want completed at 1", state, attempt)
		}
		steps, _ := db.Steps(context.Background(), id)
		var names []string
		for _, s := range steps {
			names = append(names, fmt.Sprintf("%s:%s", s.Step, s.Status))
		}
		slices.Sort(names) // the test clock stands still: same start times
		if want := "[BUILDING:done GENERATING:done ISO_GENERATING:done VALIDATING:done]"; fmt.Sprint(names) != want {
			t.Fatalf("steps %v, want %s", names, want)
		}
	})
}

// A user's cancel while the build runs ends the run CANCELLED, and the
// job is not retried, even when the worker stops afterwards.
func TestUserCancelEndsTheRunCancelled(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		g := newResumeRig(t, db)
		slow := &slowBuilder{block: true, started: make(chan struct{}, 1)}
		w1 := g.worker("worker-1", slow)
		id := g.push("sha1")
		select {
		case <-slow.started:
		case <-time.After(30 * time.Second):
			t.Fatal("the build never started")
		}
		rn, _ := db.Run(ctx, id)
		tx, err := db.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.ins.CancelJob(ctx, tx, *rn.JobID); err != nil {
			t.Fatal(errors.Join(err, tx.Rollback()))
		}
		if err := tx.Commit(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			t.Fatal(err)
		}
		rn = g.waitStatus(id, run.StatusCancelled)
		if err := w1.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		w2 := g.worker("worker-2", &slowBuilder{})
		t.Cleanup(func() { _ = w2.Stop(context.Background()) })
		time.Sleep(2 * time.Second)
		// The pipeline ended the run itself: the job is over (completed),
		// never retried.
		if state, attempt := g.jobState(*rn.JobID); (state != "completed" && state != "cancelled") || attempt != 1 {
			t.Fatalf("job is %s at attempt %d, want over after its first attempt", state, attempt)
		}
		if rn, _ := db.Run(ctx, id); rn.Status != run.StatusCancelled || rn.RetryReason != "" {
			t.Fatalf("run is %s (retry reason %q), want CANCELLED", rn.Status, rn.RetryReason)
		}
	})
}
