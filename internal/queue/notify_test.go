package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// chanSyncer reports every sync's run on a channel.
type chanSyncer chan int64

func (c chanSyncer) Sync(_ context.Context, runID int64, _ run.SyncReason) error {
	c <- runID
	return nil
}

// On PostgreSQL a worker learns of a new job from the insert's
// notification, not from its next poll: with a 10 s poll, a push taken in
// through the receiver's path (the group committer) on another store and
// inserter, as in the lean receiver's process, has its check-run sync
// started within 2 s. Polling alone would take 10 s.
func TestWorkerWakesOnInsertNotification(t *testing.T) {
	db := storetest.Postgres(t, nil)
	ctx := context.Background()
	syncs := make(chanSyncer, 10)
	q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Syncer: syncs, FetchPollInterval: 10 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// The pushes come in as through the lean receiver: another store
	// (its own connections) and another inserter.
	rx, err := store.Open(ctx, store.Config{URL: db.ConnURL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	committer := store.NewCommitter(rx, mustInsertOnly(t, rx), 0, 0)
	defer committer.Close()
	push := func(sha string) int64 {
		t.Helper()
		inst := int64(7)
		d := &store.Delivery{AppID: 1, DeliveryID: "d-" + sha, Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}
		res, err := committer.Intake(ctx, &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome,
			Run: &store.Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.RunID
	}
	wait := func(want int64, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		timeout := time.After(within)
		for {
			select {
			case got := <-syncs:
				if got == want {
					return time.Since(start)
				}
				// Another sync (the reaper ends the runs the fake
				// runner left pending).
			case <-timeout:
				t.Fatalf("run %d's check-run sync did not start within %s (poll every 10 s): the worker did not hear the insert", want, within)
				return 0
			}
		}
	}
	// The first push is found by the worker's first fetch, at start.
	first := push("1111111111111111111111111111111111111111")
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := q.Stop(stopCtx); err != nil {
			t.Error(err)
		}
	}()
	wait(first, 30*time.Second)
	// The worker has fetched; the next poll is 10 s away.
	for i := range 3 {
		id := push(fmt.Sprintf("%040d", i+2))
		took := wait(id, 2*time.Second)
		t.Logf("push %d: sync started %s after the intake committed", i+2, took)
	}
}

// The worker's LISTEN connection is released, with every other, once
// the worker stopped and the store closed.
func TestWorkerListenConnectionIsReleased(t *testing.T) {
	base := storetest.Postgres(t, nil)
	ctx := context.Background()
	var schema string
	if err := base.SQL.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	// This store's connections are told apart by their application name.
	db, err := store.Open(ctx, store.Config{URL: base.ConnURL() + "&application_name=" + schema, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(listening bool) int {
		t.Helper()
		q := `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`
		if listening {
			// River's notifier LISTENs, then pings every 5 s of silence.
			q += ` AND (query LIKE 'LISTEN "' || $1 || '.%' OR query = '-- ping')`
		}
		var n int
		if err := base.SQL.QueryRowContext(ctx, q, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, listening bool, want int) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			n := count(listening)
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d connections, want %d", what, n, want)
			}
		}
	}
	q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("a started worker listens", true, 1)
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor("after stop and close", false, 0)
}
