package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Fencing. A worker that was paused (SIGSTOP, a frozen VM, a long GC or a
// cut network) past WORKER_DEAD_AFTER is declared lost and its build is
// given to another worker; when it resumes it still runs the old attempt.
// Writes made for an attempt carry its Fence in their context, and the
// store refuses them with ErrFenced once the job no longer runs that
// attempt: the stale worker cannot move the run's step, end it, restart
// it or record artifacts over the new attempt's. The check is a read in
// the write's transaction (not a lock: the rescue skips locked jobs), so
// it closes the gap to the milliseconds between the two.

// ErrFenced is returned for a write made for an attempt whose job was
// rescued and handed to another worker (or finished) since.
// It is run.ErrSuperseded, which the pipeline knows.
var ErrFenced = run.ErrSuperseded

// Fence names an attempt of a job: the River job id and its attempt number.
type Fence struct {
	JobID   int64
	Attempt int
}

type fenceKey struct{}

// WithFence returns ctx carrying f: the store's writes in it are fenced.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// CheckFence returns ErrFenced when ctx carries a fence whose attempt is
// no longer running; nil without a fence.
func (db *DB) CheckFence(ctx context.Context) error {
	return db.checkFence(ctx, db.Bun)
}

func (db *DB) checkFence(ctx context.Context, q bun.IDB) error {
	f, ok := FenceFrom(ctx)
	if !ok {
		return nil
	}
	var one int
	err := q.NewRaw("SELECT 1 FROM river_job WHERE id = ? AND state = 'running' AND attempt = ?", f.JobID, f.Attempt).Scan(ctx, &one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("job %d attempt %d: %w", f.JobID, f.Attempt, ErrFenced)
	case err != nil:
		return fmt.Errorf("check the job's attempt: %w", err)
	}
	return nil
}
