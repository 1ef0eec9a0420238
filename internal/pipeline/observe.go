package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Observer is told what the pipeline does, for metrics. Its methods are
// called on the run's goroutine and must be quick.
type Observer interface {
	// StepFinished reports that a step of a run ended after d, with
	// outcome StepOK, StepFailed, StepRetried or StepCancelled.
	StepFinished(step run.State, outcome string, d time.Duration)
	// CacheLookup reports what the build cache answered for a run:
	// CacheLookupHit, CacheLookupMiss, CacheLookupUnusable or
	// CacheLookupBypassed.
	CacheLookup(result string)
	// RunEnded reports that this pipeline ended a run with status.
	RunEnded(status run.Status)
}

// Step outcomes, as an Observer is told.
const (
	StepOK        = "ok"
	StepFailed    = "failed"
	StepRetried   = "retried"   // an infrastructure failure: the job is retried
	StepCancelled = "cancelled" // cancelled, interrupted or superseded
)

// Cache lookup results, as an Observer is told.
const (
	CacheLookupHit      = "hit"      // an earlier run's artifacts were reused
	CacheLookupMiss     = "miss"     // no earlier run built the same context
	CacheLookupUnusable = "unusable" // one did, but its artifacts could not be adopted
	CacheLookupBypassed = "bypassed" // the run asked for a fresh build
)

// nopObserver is the Observer of a pipeline without one.
type nopObserver struct{}

func (nopObserver) StepFinished(run.State, string, time.Duration) {}
func (nopObserver) CacheLookup(string)                            {}
func (nopObserver) RunEnded(run.Status)                           {}

// stepOutcome is the outcome of a step that returned err under ctx (the
// run's context).
func stepOutcome(ctx context.Context, err error) string {
	var retry *errRetry
	switch {
	case err == nil && ctx.Err() == nil:
		return StepOK
	case errors.As(err, &retry) || errors.Is(err, ErrEngineLost):
		return StepRetried
	case errors.Is(err, run.ErrSuperseded), errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.DeadlineExceeded),
		ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return StepCancelled
	}
	return StepFailed
}
