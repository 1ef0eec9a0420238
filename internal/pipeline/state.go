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

import "fmt"

// State is a run's state.
type State string

// States, in pipeline order, then the terminal ones.
const (
	Pending       State = "PENDING"
	Validating    State = "VALIDATING"
	Generating    State = "GENERATING"
	Building      State = "BUILDING"
	ISOGenerating State = "ISO_GENERATING"
	BootTesting   State = "BOOT_TESTING"
	Complete      State = "COMPLETE"
	Failed        State = "FAILED"
	Cancelled     State = "CANCELLED"
)

// Order lists the non-terminal states in the order a run passes them.
var Order = []State{Pending, Validating, Generating, Building, ISOGenerating, BootTesting}

// Terminal reports whether a run in state s has ended.
func (s State) Terminal() bool { return s == Complete || s == Failed || s == Cancelled }

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
	// the image and a warning (a failed ISO skips the boot test).
	SoftFail Event = "soft-fail"
	// CacheHit: an identical build context was built before; its
	// artifacts are reused and the run completes at once.
	CacheHit Event = "cache-hit"
)

// Transition returns the state after ev happens in state from. It is pure:
// persisting and announcing the result is the caller's job.
func Transition(from State, ev Event) (State, error) {
	if from.Terminal() {
		return "", fmt.Errorf("run is %s: no transition on %s", from, ev)
	}
	switch ev {
	case Cancel:
		return Cancelled, nil
	case Fail:
		return Failed, nil
	case Next:
		for i, s := range Order {
			if s == from {
				if i+1 < len(Order) {
					return Order[i+1], nil
				}
				return Complete, nil
			}
		}
		return "", fmt.Errorf("unknown state %q", from)
	case SoftFail:
		if from == ISOGenerating || from == BootTesting {
			return Complete, nil
		}
	case CacheHit:
		if from == Generating {
			return Complete, nil
		}
	default:
		return "", fmt.Errorf("unknown event %q", ev)
	}
	return "", fmt.Errorf("%s cannot happen in %s", ev, from)
}
