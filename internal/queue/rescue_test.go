package queue

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Short heartbeats for tests: a worker is lost after a second of silence.
func fastRescue(cfg WorkerConfig) WorkerConfig {
	cfg.HeartbeatEvery, cfg.DeadAfter, cfg.RescueEvery = 100*time.Millisecond, time.Second, 200*time.Millisecond
	return cfg
}

// A worker that dies mid-build (its heartbeat stops, its job stays
// "running") is declared lost within seconds, not after the job's timeout
// (River's own rescuer would wait 3h15 here): its job is made available,
// the run starts over with "retrying after a worker was lost", and another
// worker completes it. A live worker's running job is never touched.
func TestLostWorkerJobIsRescuedInSeconds(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		release := make(chan struct{})
		defer close(release)
		startedA := make(chan int64, 1)
		runnerA := newFakeRunner(func(ctx context.Context, runID int64) error {
			startedA <- runID
			<-release // a killed process never answers
			return nil
		})
		dbA, err := store.Open(ctx, store.Config{URL: dbURL(t, db), DataDir: dataDir(t, db), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		qA, err := newQueue(dbA, fastRescue(WorkerConfig{Workers: 1, Runner: runnerA, ID: "worker-a", Logger: quiet}))
		if err != nil {
			t.Fatal(err)
		}
		if err := qA.Start(ctx); err != nil {
			t.Fatal(err)
		}
		lost := intake(t, db, qA, "d1", "sha1")
		select {
		case <-startedA:
		case <-time.After(30 * time.Second):
			t.Fatal("worker A never started the build")
		}
		// The run got somewhere before the crash.
		if err := db.EnterStep(ctx, lost.RunID, run.Building); err != nil {
			t.Fatal(err)
		}
		// kill -9: the heartbeat stops, nothing is recorded, the
		// connections are cut; the job row stays "running".
		qA.w.hb.stop()
		stopCtx, cancel := context.WithTimeout(ctx, time.Second)
		_ = qA.w.client.StopAndCancel(stopCtx)
		cancel()
		dbA.Close()
		crashed := time.Now()
		lostRun, _ := db.Run(ctx, lost.RunID)
		if job, err := jobRow(ctx, db, *lostRun.JobID); err != nil || job.State != rivertype.JobStateRunning {
			t.Fatalf("after the crash the job should still be running: %+v %v", job, err)
		}

		// Worker C is alive, with a build running for longer than A's
		// silence.
		startedC := make(chan int64, 1)
		runnerC := newFakeRunner(func(ctx context.Context, runID int64) error {
			select {
			case startedC <- runID:
			default:
				t.Errorf("worker C ran run %d again", runID)
			}
			<-ctx.Done()
			return ctx.Err()
		})
		qC, err := newQueue(db, fastRescue(WorkerConfig{Workers: 1, Runner: runnerC, ID: "worker-c", Logger: quiet}))
		if err != nil {
			t.Fatal(err)
		}
		if err := qC.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = qC.Stop(stopCtx)
		})
		live := intake(t, db, qC, "d2", "sha2")
		select {
		case <-startedC:
		case <-time.After(30 * time.Second):
			t.Fatal("worker C never started its build")
		}

		runnerB := newFakeRunner(nil)
		qB, err := newQueue(db, fastRescue(WorkerConfig{Workers: 1, Runner: runnerB, ID: "worker-b", Logger: quiet}))
		if err != nil {
			t.Fatal(err)
		}
		if err := qB.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = qB.Stop(context.Background()) })
		select {
		case got := <-runnerB.done:
			if got != lost.RunID {
				t.Fatalf("worker B ran %d, want %d", got, lost.RunID)
			}
			t.Logf("picked up again %s after the crash (lost after %s of silence)", time.Since(crashed).Round(time.Millisecond), time.Second)
		case <-time.After(20 * time.Second):
			t.Fatal("the lost worker's job was not rescued within 20 s")
		}
		job := waitJobState(t, db, *lostRun.JobID, rivertype.JobStateCompleted)
		if job.Attempt != 2 || job.AttemptedBy[len(job.AttemptedBy)-1] != "worker-b" {
			t.Fatalf("completed job %+v: want attempt 2 by worker-b", job)
		}
		rn, _ := db.Run(ctx, lost.RunID)
		steps, _ := db.Steps(ctx, lost.RunID)
		if rn.RetryReason != run.ReasonWorkerLost || len(steps) != 0 {
			t.Fatalf("rescued run: retry reason %q, %d steps; want %q and a fresh start", rn.RetryReason, len(steps), run.ReasonWorkerLost)
		}
		// C kept its build all along.
		liveRun, _ := db.Run(ctx, live.RunID)
		lj, err := jobRow(ctx, db, *liveRun.JobID)
		if err != nil || lj.State != rivertype.JobStateRunning || lj.Attempt != 1 || lj.AttemptedBy[len(lj.AttemptedBy)-1] != "worker-c" || len(lj.Errors) != 0 {
			t.Fatalf("the live worker's job was touched: %+v %v", lj, err)
		}
		if liveRun.RetryReason != "" {
			t.Fatalf("the live run has a retry reason %q", liveRun.RetryReason)
		}
	})
}

func waitJobState(t *testing.T, db *store.DB, id int64, want rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, err := jobRow(context.Background(), db, id)
		if err == nil && job.State == want {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is not %s: %+v %v", id, want, job, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
