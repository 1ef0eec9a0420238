package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// A worker paused (SIGSTOP) past the dead-after is declared lost and its
// build goes to another worker. When it resumes it still runs the old
// attempt: its writes are refused (store.ErrFenced, not a step moved or a
// run ended under the new attempt), it reports itself lost (OnLost) and
// it does not return the attempt to River, which would record its end
// over the new attempt's job.
func TestPausedWorkerIsFencedWhenItComesBack(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		resumeA := make(chan struct{})
		startedA := make(chan int64, 1)
		writeA := make(chan error, 2)
		runnerA := newFakeRunner(func(ctx context.Context, runID int64) error {
			startedA <- runID
			<-resumeA // SIGSTOP … SIGCONT
			err := db.EnterStep(ctx, runID, run.ISOGenerating)
			writeA <- err
			if err != nil {
				return err
			}
			err = db.Finish(ctx, runID, run.Complete, "")
			writeA <- err
			return err
		})
		var lostA atomic.Int32
		dbA, err := store.Open(ctx, store.Config{URL: dbURL(t, db), DataDir: dataDir(t, db), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer dbA.Close()
		qA, err := newQueue(dbA, fastRescue(WorkerConfig{Workers: 1, Runner: runnerA, ID: "worker-a", Logger: quiet,
			OnLost: func(error) { lostA.Add(1) }}))
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
		if err := db.EnterStep(ctx, res.RunID, run.Building); err != nil {
			t.Fatal(err)
		}
		// Paused: no heartbeat; its only slot is busy, so it fetches nothing.
		qA.w.hb.stop()

		inB := make(chan struct{})
		releaseB := make(chan struct{})
		var releasedB atomic.Bool
		release := func() {
			if releasedB.CompareAndSwap(false, true) {
				close(releaseB)
			}
		}
		runnerB := newFakeRunner(func(ctx context.Context, runID int64) error {
			if err := db.EnterStep(ctx, runID, run.Validating); err != nil {
				return err
			}
			close(inB)
			<-releaseB
			return db.Finish(ctx, runID, run.Complete, "")
		})
		qB, err := newQueue(db, fastRescue(WorkerConfig{Workers: 1, Runner: runnerB, ID: "worker-b", Logger: quiet}))
		if err != nil {
			t.Fatal(err)
		}
		if err := qB.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			release()
			_ = qB.Stop(context.Background())
		})
		select {
		case <-inB:
		case <-time.After(30 * time.Second):
			t.Fatal("worker B never took the rescued build over")
		}

		close(resumeA) // SIGCONT
		if err := <-writeA; !errors.Is(err, store.ErrFenced) {
			t.Fatalf("the resumed worker's write returned %v, want store.ErrFenced", err)
		}
		rn, _ := db.Run(ctx, res.RunID)
		if rn.Status != run.StatusInProgress || rn.Step != run.Validating {
			t.Fatalf("after the stale write the run is %s at %s, want B's IN_PROGRESS at VALIDATING", rn.Status, rn.Step)
		}
		waitFor(t, 10*time.Second, "worker A to report itself lost", func() bool { return lostA.Load() > 0 })
		time.Sleep(500 * time.Millisecond) // River's completer would have run by now
		job, err := jobRow(ctx, db, *rn.JobID)
		if err != nil || job.State != rivertype.JobStateRunning || job.Attempt != 2 || job.AttemptedBy[len(job.AttemptedBy)-1] != "worker-b" {
			t.Fatalf("the rescued job was touched by the stale attempt: %+v %v", job, err)
		}

		release()
		job = waitJobState(t, db, *rn.JobID, rivertype.JobStateCompleted)
		if job.Attempt != 2 {
			t.Fatalf("completed job %+v: want attempt 2", job)
		}
		if rn, _ := db.Run(ctx, res.RunID); rn.Status != run.StatusSuccess {
			t.Fatalf("run %s, want B's success", rn.Status)
		}
		stopCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = qA.w.client.StopAndCancel(stopCtx)
	})
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
