package queue

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// Redeliverer asks GitHub to redeliver the webhook deliveries that failed
// and were never recorded.
type Redeliverer interface {
	RedeliverMissed(ctx context.Context) error
}

// RedeliverArgs is the periodic missed-delivery job.
type RedeliverArgs struct{}

// Kind is the job kind in river_job.
func (RedeliverArgs) Kind() string { return "redeliver_missed" }

type redeliverWorker struct {
	river.WorkerDefaults[RedeliverArgs]
	r Redeliverer
}

func (w *redeliverWorker) Work(ctx context.Context, _ *river.Job[RedeliverArgs]) error {
	return w.r.RedeliverMissed(ctx)
}

func (w *redeliverWorker) Timeout(*river.Job[RedeliverArgs]) time.Duration { return 5 * time.Minute }
