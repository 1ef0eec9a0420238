package store_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// ActiveRunCounts counts the runs that have not ended, by status and step;
// ended runs are not read. QueueJobCounts counts River's waiting and
// running jobs by queue and state; finished jobs are not counted.
func TestActiveRunAndQueueJobCounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		runs, err := db.ActiveRunCounts(ctx)
		if err != nil || len(runs) != 0 {
			t.Fatalf("empty store: %v %v", runs, err)
		}
		mk := func(status run.Status, step run.State) {
			t.Helper()
			if err := db.CreateRun(ctx, &Run{Status: status, Step: step, Trigger: run.TriggerCLI, Repo: "o/r"}); err != nil {
				t.Fatal(err)
			}
		}
		mk(run.StatusPending, run.Pending)
		mk(run.StatusPending, run.Pending)
		mk(run.StatusInProgress, run.Building)
		mk(run.StatusInProgress, run.Validating)
		mk(run.StatusSuccess, run.Complete)
		mk(run.StatusFailed, run.Failed)
		runs, err = db.ActiveRunCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range runs {
			got = append(got, string(c.Status)+"/"+string(c.Step)+"="+itoa(c.N))
		}
		slices.Sort(got)
		want := []string{string(run.StatusInProgress) + "/" + string(run.Building) + "=1", string(run.StatusInProgress) + "/" + string(run.Validating) + "=1",
			string(run.StatusPending) + "/" + string(run.Pending) + "=2"}
		if !slices.Equal(got, want) {
			t.Fatalf("active runs %q, want %q", got, want)
		}

		insert := `INSERT INTO river_job (kind, queue, state, args, max_attempts, scheduled_at, created_at, finalized_at) VALUES (?, ?, ?, '{}', 3, ?, ?, ?)`
		if db.Dialect == Postgres {
			insert = `INSERT INTO river_job (kind, queue, state, args, max_attempts, scheduled_at, created_at, finalized_at) VALUES (?, ?, ?::river_job_state, '{}', 3, ?, ?, ?)`
		}
		now := time.Now().UTC()
		for _, j := range [][2]string{{"default", "available"}, {"default", "available"}, {"default", "running"}, {"events", "scheduled"},
			{"events", "retryable"}, {"default", "completed"}, {"reports", "discarded"}, {"reports", "cancelled"}} {
			var finalized *time.Time // River's finished states carry the time
			if j[1] == "completed" || j[1] == "discarded" || j[1] == "cancelled" {
				finalized = &now
			}
			if _, err := db.Bun.ExecContext(ctx, insert, "build", j[0], j[1], now, now, finalized); err != nil {
				t.Fatalf("insert job: %v", err)
			}
		}
		jobs, err := db.QueueJobCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, c := range jobs {
			got = append(got, c.Queue+"/"+c.State+"="+itoa(c.N))
		}
		slices.Sort(got)
		want = []string{"default/available=2", "default/running=1", "events/retryable=1", "events/scheduled=1"}
		if !slices.Equal(got, want) {
			t.Fatalf("queued jobs %q, want %q", got, want)
		}

		// A cancelled context ends the query with an error naming it.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := db.QueueJobCounts(cctx); err == nil || !strings.Contains(err.Error(), "count queued jobs") {
			t.Fatalf("cancelled: %v", err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
