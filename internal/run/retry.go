package run

import (
	"context"
	"errors"
)

// ErrInterrupted ends a build attempt that was interrupted because its
// worker is stopping (a deploy, SIGTERM): the run is not over. It starts
// over on the next worker (or on the same one after its restart). The
// queue gives it as the cause of the context the pipeline runs in; only
// a user's cancel (the button, /build cancel, a superseding push) ends a
// run CANCELLED.
var ErrInterrupted = errors.New(ReasonInterrupted)

// ErrSuperseded ends a build attempt whose job was taken away from its
// worker: the worker was paused or cut off past WORKER_DEAD_AFTER, its job
// was rescued and another worker now runs the run. The stale attempt must
// write nothing more (the store refuses it, store.ErrFenced) and touch
// none of the run's shared things (its image, its objects): it only stops.
var ErrSuperseded = errors.New("this attempt was superseded: its job was rescued and is no longer this worker's")

// Retry reasons: why a run that had started is being built again (the
// run's retry reason, shown on its check run, and a line of its log).
const (
	// ReasonInterrupted: its worker stopped gracefully.
	ReasonInterrupted = "interrupted: the worker is stopping; the build will be retried"
	// ReasonWorkerLost: its worker went silent (killed, crashed, cut off)
	// and its job was rescued.
	ReasonWorkerLost = "retrying after a worker was lost"
	// ReasonAttemptLost: an earlier attempt stopped without ending the run
	// and nobody said why (River's own rescuer gave the job back, or the
	// attempt failed on the infrastructure).
	ReasonAttemptLost = "retrying: an earlier attempt stopped without ending the run"
	// ReasonEngineLost: the Docker engine went away under the build
	// (dockerd restarted or crashed, its socket gone); the attempt
	// counts, and a run whose last attempt loses it fails.
	ReasonEngineLost = "retrying after the Docker engine was lost"
)

// Attempt is which attempt of its job a build is: the N-th of at most
// Max (N counts from 1).
type Attempt struct{ N, Max int }

// Last reports whether no attempt follows this one.
func (a Attempt) Last() bool { return a.N >= a.Max }

type attemptKey struct{}

// WithAttempt tells the build that runs under ctx which attempt of its job
// it is (the queue sets it).
func WithAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// AttemptOf is the attempt ctx carries; ok is false outside a queue's
// job (bot build runs once: no attempt follows).
func AttemptOf(ctx context.Context) (a Attempt, ok bool) {
	a, ok = ctx.Value(attemptKey{}).(Attempt)
	return a, ok
}
