package queue

import (
	"context"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// checkerFunc is a ScheduleChecker.
type checkerFunc func(ctx context.Context) error

func (f checkerFunc) CheckSchedules(ctx context.Context) error { return f(ctx) }

// The scheduled-rebuild check is a periodic job of a worker given a
// checker: it runs at start.
func TestScheduleCheckRunsPeriodically(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		called := make(chan struct{}, 10)
		check := checkerFunc(func(ctx context.Context) error {
			called <- struct{}{}
			return nil
		})
		q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Schedules: check, ScheduleEvery: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = q.Stop(ctx) }()
		select {
		case <-called:
		case <-time.After(20 * time.Second):
			t.Fatal("the schedule check did not run")
		}
	})
}
