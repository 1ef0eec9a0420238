package queue

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// logContext is the worker middleware that enriches every job's context
// once with its logger: the job's id and kind and, for jobs about a run,
// the run's id. Everything the job calls logs through logging.From(ctx).
type logContext struct {
	river.WorkerMiddlewareDefaults
	log *slog.Logger
}

var _ rivertype.WorkerMiddleware = (*logContext)(nil)

// Work implements rivertype.WorkerMiddleware.
func (m *logContext) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if !logging.Carried(ctx) {
		ctx = logging.WithLogger(ctx, m.log)
	}
	args := []any{logging.KeyJob, job.ID, logging.KeyJobKind, job.Kind}
	var about struct {
		RunID int64 `json:"run_id"`
	}
	if json.Unmarshal(job.EncodedArgs, &about) == nil && about.RunID != 0 {
		args = append(args, logging.KeyRun, about.RunID)
	}
	return doInner(logging.With(ctx, args...))
}
