package queue

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// ScheduleChecker checks the schedules of linux-build.yaml files that
// have come due and starts the rebuilds they call for
// (internal/freshness).
type ScheduleChecker interface {
	CheckSchedules(ctx context.Context) error
}

// ScheduleArgs is the periodic scheduled-rebuild check.
type ScheduleArgs struct{}

// Kind is the job kind in river_job.
func (ScheduleArgs) Kind() string { return "scheduled_rebuilds" }

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	s ScheduleChecker
}

// Work runs one check. Two checks at once (a periodic job inserted by a
// new leader while the last one still runs) are safe: each build's check
// is claimed by one of them in the store.
func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleArgs]) error {
	return w.s.CheckSchedules(ctx)
}

func (w *scheduleWorker) Timeout(*river.Job[ScheduleArgs]) time.Duration { return 10 * time.Minute }
