package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// panicJobs is a Jobs whose first EnqueueBuilds panics, midway through an
// intake transaction (the delivery row written or about to be).
type panicJobs struct {
	*fakeJobs
	calls atomic.Int32
}

func (p *panicJobs) EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*Run) ([]Enqueued, error) {
	if p.calls.Add(1) == 1 {
		panic("injected enqueue bug")
	}
	return p.fakeJobs.EnqueueBuilds(ctx, tx, runs)
}

// A panic while a batch commits fails that batch's waiters with an error,
// writes nothing of the batch, and leaves the committer serving the next
// batch.
func TestCommitterSurvivesAPanickingBatch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		c := NewCommitter(db, &panicJobs{fakeJobs: fakeEnqueue(3, 0, nil)}, 1, 0)
		defer c.Close()
		item := func() *IntakeItem {
			return &IntakeItem{Delivery: delivery("p1"), Intent: Intent{Outcome: OutcomeQueued, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: "a1"}}}
		}
		if _, err := c.Intake(ctx, item()); !errors.Is(err, ErrIntakePanic) {
			t.Fatalf("panicking batch: %v, want ErrIntakePanic", err)
		}
		if d, err := db.Delivery(ctx, 42, "p1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the panicking batch wrote its delivery: %+v %v", d, err)
		}
		if runs, err := db.ListRuns(ctx, RunFilter{}); err != nil || len(runs) != 0 {
			t.Fatalf("the panicking batch wrote runs: %d %v", len(runs), err)
		}
		res, err := c.Intake(ctx, item())
		if err != nil || res.Duplicate || res.RunID == 0 {
			t.Fatalf("the batch after the panic: %+v %v, want a fresh delivery and run", res, err)
		}
	})
}
