// Package pipeline runs a build: a run is a state machine from PENDING
// through validation, rendering, the Docker build, the ISO and its boot
// test, ending COMPLETE, FAILED or CANCELLED. A run that completes has
// its artifacts, its build log and their SHA256SUMS in its directory;
// publishing them is an effect of finishing (the store queues the release
// in the transaction that ends a GitHub run), not a step.
//
// Transition is a pure function; Pipeline persists each transition through
// its Store before announcing it to Reporters, so what observers see is
// always what the database says. The interfaces the pipeline needs (Store,
// Renderer, ImageBuilder, ISOBuilder, BootTester, Reporter) are
// declared here, where they are consumed; cmd/bot wires the concrete ones
// (internal/store, internal/render, pipeline/docker, pipeline/iso,
// pipeline/boot).
package pipeline

import (
	"fmt"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Event is what happened in the current state.
type Event string

// Events.
const (
	// Next: the current step succeeded.
	Next Event = "next"
	// Fail: the current step failed; the run fails.
	Fail Event = "fail"
	// Cancel: the user, a newer push or shutdown cancelled the run.
	Cancel Event = "cancel"
	// SoftFail: the ISO or its boot test failed. The run completes with
	// the image and a warning (a failed ISO skips the disk images and the
	// boot test). A failed disk image is not a SoftFail: the run goes on
	// to boot the ISO, partial.
	SoftFail Event = "soft-fail"
	// CacheHit: an identical build context was built before; its
	// artifacts are reused and the run completes at once.
	CacheHit Event = "cache-hit"
)

// Transition returns the state after ev happens in state from. It is pure:
// persisting and announcing the result is the caller's job.
func Transition(from run.State, ev Event) (run.State, error) {
	if from.Terminal() {
		return "", fmt.Errorf("run is %s: no transition on %s", from, ev)
	}
	switch ev {
	case Cancel:
		return run.Cancelled, nil
	case Fail:
		return run.Failed, nil
	case Next:
		for i, s := range run.Order {
			if s == from {
				if i+1 < len(run.Order) {
					return run.Order[i+1], nil
				}
				return run.Complete, nil
			}
		}
		return "", fmt.Errorf("unknown state %q", from)
	case SoftFail:
		if from == run.ISOGenerating || from == run.BootTesting {
			return run.Complete, nil
		}
	case CacheHit:
		if from == run.Generating {
			return run.Complete, nil
		}
	default:
		return "", fmt.Errorf("unknown event %q", ev)
	}
	return "", fmt.Errorf("%s cannot happen in %s", ev, from)
}
