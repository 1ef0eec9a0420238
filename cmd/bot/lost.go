package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// exitLostCode is the exit status of a worker that found itself declared
// lost: not 0, so that the service manager (systemd's Restart=on-failure,
// compose's restart policy) starts it again.
const exitLostCode = 75 // EX_TEMPFAIL

// exitLost is the worker's queue.WorkerConfig.OnLost: a worker that was
// paused or cut off past WORKER_DEAD_AFTER had its running jobs given to
// other workers. Its attempts are stale; the store already refuses their
// writes, and River's completion of a job does not check the attempt, so
// the process exits rather than let them return (a stale attempt's end
// would be recorded over the new attempt's job). Its leftovers are swept
// when it starts again.
func exitLost(err error) {
	slog.Error("this worker was declared lost: its jobs run elsewhere now; exiting", logging.KeyErr, err)
	os.Exit(exitLostCode)
}

// sweepWorkDir removes, as the worker starts, what a dead process of this
// machine left in its work directory (pipeline.SweepWorkDir); a failure is
// logged, not fatal: the directories are swept again at the next start.
func sweepWorkDir(ctx context.Context, p *pipeline.Pipeline) {
	n, err := p.SweepWorkDir(ctx)
	if n > 0 {
		slog.Info("swept the work directories of runs that are not in progress here", "removed", n)
	}
	if err != nil {
		slog.Warn("could not sweep the whole work directory", logging.KeyErr, err)
	}
}
