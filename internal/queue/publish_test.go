package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// crashAfterPublish inserts the release job, then fails the transaction
// that ends the run.
type crashAfterPublish struct{ *Inserter }

func (c crashAfterPublish) EnqueuePublish(ctx context.Context, tx *sql.Tx, runID int64) error {
	if err := c.Inserter.EnqueuePublish(ctx, tx, runID); err != nil {
		return err
	}
	return errors.New("crash after enqueue")
}

// publishJobs counts the release jobs of run runID on QueuePublish (read
// through River: SQLite keeps args as binary JSON).
func publishJobs(t *testing.T, db *store.DB, runID int64) int {
	t.Helper()
	res, err := mustInsertOnly(t, db).client.JobList(context.Background(), river.NewJobListParams().Kinds(PublishArgs{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range res.Jobs {
		var args PublishArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			t.Fatal(err)
		}
		if args.RunID == runID && j.Queue == QueuePublish {
			n++
		}
	}
	return n
}

// Publishing is an effect of finishing: a GitHub run that ends
// successfully gets exactly one release job, in the transaction that ends
// it (rolled back, neither happens); a failed or cancelled run and a CLI
// run get none.
func TestFinishQueuesTheReleaseAtomically(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		q := mustInsertOnly(t, db)
		inst := int64(7)
		newRun := func(installation *int64) int64 {
			t.Helper()
			rn := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", InstallationID: installation}
			if err := db.CreateRun(ctx, rn); err != nil {
				t.Fatal(err)
			}
			if err := db.EnterStep(ctx, rn.ID, run.BootTesting); err != nil {
				t.Fatal(err)
			}
			return rn.ID
		}

		rolledBack := newRun(&inst)
		if err := db.FinishWith(ctx, rolledBack, run.Complete, "", crashAfterPublish{q}); err == nil {
			t.Fatal("finish succeeded")
		}
		if run, _ := db.Run(ctx, rolledBack); run.Status.Terminal() || publishJobs(t, db, rolledBack) != 0 {
			t.Fatalf("rolled back: run %s with %d release jobs, want still running with none", run.Status, publishJobs(t, db, rolledBack))
		}
		if err := db.FinishWith(ctx, rolledBack, run.Complete, "", q); err != nil {
			t.Fatal(err)
		}
		if n := publishJobs(t, db, rolledBack); n != 1 {
			t.Fatalf("a successful GitHub run has %d release jobs, want 1", n)
		}
		if err := db.FinishWith(ctx, rolledBack, run.Complete, "", q); !errors.Is(err, store.ErrRunEnded) {
			t.Fatalf("finishing again: %v", err)
		}
		if n := publishJobs(t, db, rolledBack); n != 1 {
			t.Fatalf("finishing again made %d release jobs, want 1", n)
		}

		for _, tc := range []struct {
			name  string
			inst  *int64
			final run.State
		}{
			{"failed GitHub run", &inst, run.Failed},
			{"cancelled GitHub run", &inst, run.Cancelled},
			{"successful CLI run", nil, run.Complete},
		} {
			id := newRun(tc.inst)
			if err := db.FinishWith(ctx, id, tc.final, "", q); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if n := publishJobs(t, db, id); n != 0 {
				t.Fatalf("%s: %d release jobs, want none", tc.name, n)
			}
		}
	})
}

// recordingReleaser records the runs it published.
type recordingReleaser struct {
	mu   sync.Mutex
	runs []int64
	done chan int64
}

func (r *recordingReleaser) Publish(_ context.Context, runID int64) error {
	r.mu.Lock()
	r.runs = append(r.runs, runID)
	r.mu.Unlock()
	r.done <- runID
	return nil
}

// The release job publishes at once: it exists only once its run has
// ended, so it never reads the run to poll for its end, and never
// snoozes. Then it asks for a state sync (the check run shows the links).
func TestPublishJobDoesNotPoll(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	q := mustInsertOnly(t, db)
	r := &recordingReleaser{done: make(chan int64, 1)}
	w := &publishWorker{r: r, db: db, syncs: q}
	// Run 4242 does not exist: a worker that read the run would fail, one
	// that polled its status would snooze.
	job := &river.Job[PublishArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: syncAttempts}, Args: PublishArgs{RunID: 4242}}
	if err := w.Work(ctx, job); err != nil {
		t.Fatalf("the release job returned %v", err)
	}
	if len(r.runs) != 1 || r.runs[0] != 4242 {
		t.Fatalf("published %v", r.runs)
	}
	var syncs int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'check_sync'").Scan(&syncs); err != nil || syncs != 1 {
		t.Fatalf("%d syncs after the release (%v), want 1", syncs, err)
	}
}

// End to end on the queue: a GitHub run that ends successfully is
// published by a worker without anyone asking for it.
func TestFinishedRunIsPublished(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		r := &recordingReleaser{done: make(chan int64, 10)}
		q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Releaser: r, Syncer: nopSyncer{}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		inst := int64(9)
		rn := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", InstallationID: &inst}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishWith(ctx, rn.ID, run.Complete, "", q); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-r.done:
			if got != rn.ID {
				t.Fatalf("published run %d, want %d", got, rn.ID)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the finished run was never published")
		}
	})
}
