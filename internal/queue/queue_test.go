package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeRunner records the runs it was given and runs fn for each.
type fakeRunner struct {
	mu   sync.Mutex
	runs []int64
	fn   func(ctx context.Context, runID int64) error
	done chan int64
}

var _ Runner = (*fakeRunner)(nil)

func newFakeRunner(fn func(ctx context.Context, runID int64) error) *fakeRunner {
	return &fakeRunner{fn: fn, done: make(chan int64, 100)}
}

func (f *fakeRunner) Run(ctx context.Context, runID int64) error {
	f.mu.Lock()
	f.runs = append(f.runs, runID)
	f.mu.Unlock()
	var err error
	if f.fn != nil {
		err = f.fn(ctx, runID)
	}
	f.done <- runID
	return err
}

func intake(t *testing.T, db *store.DB, q store.Jobs, delivery, sha string) store.IntakeResult {
	t.Helper()
	d := &store.Delivery{AppID: 1, DeliveryID: delivery, Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}
	res, err := db.Intake(context.Background(), &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Reason: d.Reason, Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}}}, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// crashAfterEnqueue inserts the job, then fails the transaction.
type crashAfterEnqueue struct{ *Inserter }

func (c crashAfterEnqueue) EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*store.Run) ([]store.Enqueued, error) {
	if _, err := c.Inserter.EnqueueBuilds(ctx, tx, runs); err != nil {
		return nil, err
	}
	return nil, errors.New("crash after enqueue")
}

func waitRun(t *testing.T, r *fakeRunner, want int64) {
	t.Helper()
	select {
	case got := <-r.done:
		if got != want {
			t.Fatalf("runner ran %d, want %d", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run %d never ran", want)
	}
}

func TestIntakeEnqueuesInTheSameTransaction(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		q, err := NewInserter(db, InserterConfig{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		first := intake(t, db, q, "d1", "sha1")
		rn, _ := db.Run(ctx, first.RunID)
		job, err := jobRow(ctx, db, *rn.JobID)
		if err != nil || job.Kind != "build" || job.State != rivertype.JobStateAvailable {
			t.Fatalf("job %+v %v", job, err)
		}
		// The same commit again coalesces into the queued build.
		second := intake(t, db, q, "d2", "sha1")
		if !second.Coalesced || second.RunID != first.RunID {
			t.Fatalf("second intake %+v", second)
		}
		// Another commit is a new build.
		third := intake(t, db, q, "d3", "sha2")
		if third.Coalesced || third.RunID == first.RunID {
			t.Fatalf("third intake %+v", third)
		}
		// A transaction that fails after enqueueing leaves no job behind.
		failing := crashAfterEnqueue{q}
		d := &store.Delivery{AppID: 1, DeliveryID: "d4", Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}
		if _, err := db.Intake(ctx, &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Reason: d.Reason, Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "sha3"}}}, failing); err == nil {
			t.Fatal("intake succeeded")
		}
		var jobs int
		if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 2 {
			t.Fatalf("%d jobs, want 2 (the rolled-back one must be gone)", jobs)
		}
	})
}

func TestWorkerRunsBuildsAndCancels(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		started := make(chan int64, 10)
		runner := newFakeRunner(func(ctx context.Context, runID int64) error {
			started <- runID
			if runID%2 == 0 { // even runs wait to be cancelled
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		q, err := newQueue(db, WorkerConfig{Workers: 2, Runner: runner, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		a := intake(t, db, q, "d1", "sha1")
		b := intake(t, db, q, "d2", "sha2")
		for range 2 {
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("builds did not start")
			}
		}
		var waiting store.IntakeResult
		for _, r := range []store.IntakeResult{a, b} {
			if r.RunID%2 == 0 {
				waiting = r
			}
		}
		run, _ := db.Run(ctx, waiting.RunID)
		if err := cancelJob(ctx, db, *run.JobID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			job, err := jobRow(ctx, db, *run.JobID)
			if err == nil && job.State == rivertype.JobStateCancelled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job not cancelled: %+v %v", job, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// A worker that dies mid-build (its process is gone: the job row stays
// "running" with nobody working it) is rescued by River and the build runs
// on another worker.
func TestCrashedWorkerJobIsRescued(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		release := make(chan struct{})
		defer close(release)
		startedA := make(chan int64, 1)
		runnerA := newFakeRunner(func(ctx context.Context, runID int64) error {
			startedA <- runID
			<-release // ignores cancellation, like a hung or killed process
			return nil
		})
		// Worker A has its own connection pool, which the "crash" closes.
		// River only rescues a job once its timeout has passed, so the
		// workers have a short one (a real build's is hours).
		dbA, err := store.Open(ctx, store.Config{URL: dbURL(t, db), DataDir: dataDir(t, db), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		qA, err := newQueue(dbA, WorkerConfig{Workers: 1, Runner: runnerA, JobTimeout: time.Second, RescueAfter: 2 * time.Second, ID: "worker-a", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := qA.Start(ctx); err != nil {
			t.Fatal(err)
		}
		res := intake(t, db, qA, "d1", "sha1")
		select {
		case <-startedA:
		case <-time.After(30 * time.Second):
			t.Fatal("worker A never started the build")
		}
		// Crash: stop A without letting it record anything, then cut its
		// database connections.
		stopCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = qA.w.client.StopAndCancel(stopCtx)
		cancel()
		dbA.Close()
		run, _ := db.Run(ctx, res.RunID)
		job, err := jobRow(ctx, db, *run.JobID)
		if err != nil || job.State != rivertype.JobStateRunning {
			t.Fatalf("after the crash the job should still be running: %+v %v", job, err)
		}

		runnerB := newFakeRunner(nil)
		qB, err := newQueue(db, WorkerConfig{Workers: 1, Runner: runnerB, JobTimeout: time.Second, RescueAfter: 2 * time.Second, ID: "worker-b", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := qB.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = qB.Stop(context.Background()) })
		select {
		case got := <-runnerB.done:
			if got != res.RunID {
				t.Fatalf("worker B ran %d, want %d", got, res.RunID)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("the stuck job was never rescued to worker B")
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			job, err := jobRow(ctx, db, *run.JobID)
			if err == nil && job.State == rivertype.JobStateCompleted {
				if job.Attempt != 2 || job.AttemptedBy[len(job.AttemptedBy)-1] != "worker-b" {
					t.Fatalf("completed job %+v: want attempt 2 by worker-b", job)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job not completed: %+v %v", job, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func mustInsertOnly(t *testing.T, db *store.DB) *Inserter {
	t.Helper()
	q, err := NewInserter(db, InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// testQueue is both halves of the queue, as a process with workers has
// them: the insert side, and the worker side made over it.
type testQueue struct {
	*Inserter
	w *Worker
}

func newQueue(db *store.DB, cfg WorkerConfig) (*testQueue, error) {
	ins, err := NewInserter(db, InserterConfig{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	w, err := NewWorker(ins, cfg)
	if err != nil {
		return nil, err
	}
	return &testQueue{Inserter: ins, w: w}, nil
}

func (q *testQueue) Start(ctx context.Context) error { return q.w.Start(ctx) }
func (q *testQueue) Stop(ctx context.Context) error  { return q.w.Stop(ctx) }

// jobRow reads job id's row (state, attempts, errors) through River.
func jobRow(ctx context.Context, db *store.DB, id int64) (*rivertype.JobRow, error) {
	ins, err := NewInserter(db, InserterConfig{Logger: quiet})
	if err != nil {
		return nil, err
	}
	return ins.client.JobGet(ctx, id)
}

// cancelJob cancels job id as intake does, in a transaction of its own:
// a running job has its context cancelled, a waiting one never starts.
func cancelJob(ctx context.Context, db *store.DB, id int64) error {
	ins, err := NewInserter(db, InserterConfig{Logger: quiet})
	if err != nil {
		return err
	}
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := ins.CancelJob(ctx, tx, id); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// dbURL and dataDir reopen the same database as db.
func dbURL(t *testing.T, db *store.DB) string {
	if db.Dialect == store.SQLite {
		return ""
	}
	return db.ConnURL()
}

func dataDir(t *testing.T, db *store.DB) string {
	if db.Dialect != store.SQLite {
		return ""
	}
	return filepath.Dir(db.Path())
}

func TestRetentionDeletesExpiredArtifacts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		rn := &store.Run{Trigger: run.TriggerCLI, Repo: "o/r"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		oldFile, keepFile := filepath.Join(dir, "old.iso"), filepath.Join(dir, "keep.iso")
		for _, f := range []string{oldFile, keepFile} {
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		for _, a := range []*store.Artifact{
			{RunID: rn.ID, Name: "old.iso", Type: run.ArtifactISO, Location: oldFile, ExpiresAt: &past},
			{RunID: rn.ID, Name: "keep.iso", Type: run.ArtifactISO, Location: keepFile, ExpiresAt: &future},
		} {
			if err := db.AddArtifact(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		deadline := time.Now().Add(30 * time.Second)
		for {
			arts, _ := db.Artifacts(ctx, rn.ID)
			if len(arts) == 1 && arts[0].Name == "keep.iso" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("retention did not run: %+v", arts)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := os.Stat(oldFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("expired file still there: %v", err)
		}
		if _, err := os.Stat(keepFile); err != nil {
			t.Fatalf("kept file gone: %v", err)
		}
	})
}

// No run stays open for ever: runs whose job was cancelled before it ran,
// or discarded, or that have no job and stopped moving, are ended.
func TestOrphanedRunsAreEnded(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		ctx := context.Background()
		q := mustInsertOnly(t, db)
		cancelled := intake(t, db, q, "d1", "sha1")
		discarded := intake(t, db, q, "d2", "sha2")
		healthy := intake(t, db, q, "d3", "sha3")
		r1, _ := db.Run(ctx, cancelled.RunID)
		if err := cancelJob(ctx, db, *r1.JobID); err != nil {
			t.Fatal(err)
		}
		r2, _ := db.Run(ctx, discarded.RunID)
		if _, err := db.SQL.ExecContext(ctx, "UPDATE river_job SET state = 'discarded', finalized_at = CURRENT_TIMESTAMP WHERE id = "+fmt.Sprint(*r2.JobID)); err != nil {
			t.Fatal(err)
		}
		local := &store.Run{Trigger: run.TriggerCLI, Repo: "local"}
		if err := db.CreateRun(ctx, local); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Hour)
		ended, err := db.EndOrphanedRuns(ctx, time.Hour)
		if n := len(ended); err != nil || n != 3 {
			t.Fatalf("ended %v (%v), want 3 runs", ended, err)
		}
		for id, want := range map[int64]run.Status{cancelled.RunID: run.StatusCancelled, discarded.RunID: run.StatusFailed, local.ID: run.StatusFailed, healthy.RunID: run.StatusPending} {
			r, _ := db.Run(ctx, id)
			if r.Status != want {
				t.Errorf("run %d is %s, want %s (%s)", id, r.Status, want, r.FailureReason)
			}
		}
	})
}

// A run superseded while it waited keeps its job (which finds the run
// ended); pushing that commit again must not join the ended run: the stale
// job is cancelled and a new run queued.
func TestSupersededWaitingJobIsReplaced(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		q, err := NewInserter(db, InserterConfig{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		push := func(id, sha string) store.IntakeResult {
			t.Helper()
			res, err := db.Intake(ctx, &store.IntakeItem{Delivery: &store.Delivery{AppID: 1, DeliveryID: id, Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}, Intent: store.Intent{Outcome: store.OutcomeQueued, Supersede: true, Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}}}, q)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		a := push("d1", "A")
		push("d2", "B") // supersedes A's run while it waits
		runA, _ := db.Run(ctx, a.RunID)
		if runA.Status != run.StatusCancelled {
			t.Fatalf("run of A is %s", runA.Status)
		}
		again := push("d3", "A")
		if again.Coalesced || again.RunID == a.RunID {
			t.Fatalf("A again joined the ended run: %+v", again)
		}
		stale, err := jobRow(ctx, db, *runA.JobID)
		if err != nil || stale.State != rivertype.JobStateCancelled {
			t.Fatalf("stale job %+v %v", stale, err)
		}
		fresh, _ := db.Run(ctx, again.RunID)
		if job, err := jobRow(ctx, db, *fresh.JobID); err != nil || job.State != rivertype.JobStateAvailable {
			t.Fatalf("new job %+v %v", job, err)
		}
	})
}
