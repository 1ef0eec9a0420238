// Package run holds the words every part of Linux Builder uses about a
// run: its states and statuses, what triggered it, its steps and their
// titles, its artifacts' types, its log levels, the check-run actions that
// act on it and the ref of a pull request's head. It is the domain's root:
// the store, the pipeline, the renderer, the receiver, the reporting and
// the queue import it, and it imports nothing of ours. A state's spelling
// appears nowhere else (a test in this package fails on a literal of one
// in the rest of the tree).
package run

// State is where a run is: one of its steps while it goes, then one of
// the final states.
type State string

// States, in the order a run passes them, then the final ones.
const (
	Pending        State = "PENDING"
	Validating     State = "VALIDATING"
	Generating     State = "GENERATING"
	Building       State = "BUILDING"
	ISOGenerating  State = "ISO_GENERATING"
	DiskGenerating State = "DISK_GENERATING"
	BootTesting    State = "BOOT_TESTING"
	Complete       State = "COMPLETE"
	Failed         State = "FAILED"
	Cancelled      State = "CANCELLED"
)

// Order lists the non-final states in the order a run passes them.
var Order = []State{Pending, Validating, Generating, Building, ISOGenerating, DiskGenerating, BootTesting}

// Steps are the states a user sees as the run's steps (all of Order but
// Pending, which is waiting, not working), in order.
var Steps = Order[1:]

// Terminal reports whether a run in state s has ended.
func (s State) Terminal() bool { return s == Complete || s == Failed || s == Cancelled }

// titles are the steps' display titles (check runs, logs, pages).
var titles = map[State]string{
	Pending:        "Wait for a worker",
	Validating:     "Validate the spec",
	Generating:     "Render the build context",
	Building:       "Build the image",
	ISOGenerating:  "Make the bootable ISO",
	DiskGenerating: "Make the disk images",
	BootTesting:    "Boot-test (BIOS and UEFI)",
	Complete:       "Complete",
	Failed:         "Failed",
	Cancelled:      "Cancelled",
}

// Title is the display title of state s (s itself when it has none).
func (s State) Title() string {
	if t, ok := titles[s]; ok {
		return t
	}
	return string(s)
}

// Status is the coarse status of a run, as the store keeps it and GitHub
// shows it.
type Status string

// Statuses.
const (
	StatusPending    Status = "PENDING"
	StatusInProgress Status = "IN_PROGRESS"
	StatusSuccess    Status = "SUCCESS"
	StatusFailed     Status = "FAILED"
	StatusCancelled  Status = "CANCELLED"
)

// Terminal reports whether a run in status s is over.
func (s Status) Terminal() bool {
	return s == StatusSuccess || s == StatusFailed || s == StatusCancelled
}

// StatusOf is the status of a run in state s.
func StatusOf(s State) Status {
	switch s {
	case Pending:
		return StatusPending
	case Complete:
		return StatusSuccess
	case Failed:
		return StatusFailed
	case Cancelled:
		return StatusCancelled
	}
	return StatusInProgress
}

// FinalState is the final state of a run that ended in status s, and
// whether s is final at all.
func FinalState(s Status) (State, bool) {
	switch s {
	case StatusSuccess:
		return Complete, true
	case StatusFailed:
		return Failed, true
	case StatusCancelled:
		return Cancelled, true
	}
	return "", false
}

// StepStatus is the state of one step of a run.
type StepStatus string

// Step statuses. StepPending is a step not entered yet (the store keeps
// no row for it).
const (
	StepPending   StepStatus = "pending"
	StepRunning   StepStatus = "running"
	StepDone      StepStatus = "done"
	StepFailed    StepStatus = "failed"
	StepCancelled StepStatus = "cancelled"
	StepSkipped   StepStatus = "skipped"
)

// StepEnd is the status the step a run is in ends with when the run ends
// in final state s.
func StepEnd(s State) StepStatus {
	switch s {
	case Failed:
		return StepFailed
	case Cancelled:
		return StepCancelled
	}
	return StepDone
}
