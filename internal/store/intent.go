package store

import "errors"

// Intent is what a webhook delivery asks for: the one decision type from
// the receiver's event handlers to the store. The receiver decides it from
// the payload alone and Intake records it with the delivery; when that
// needs GitHub's API, the receiver's intent defers (Event) and the event
// job's intent is recorded by Resolve. It lives in the store because it
// is made of the store's rows (Run, Approval, PendingSpec) and is applied
// in one of the store's transactions.
type Intent struct {
	// Outcome and Reason are recorded on the delivery.
	Outcome Outcome
	Reason  string
	// Run, when set, is built: the run and its job are recorded in the
	// same transaction. Supersede cancels the older active runs of Run's
	// repository, ref and trigger (a newer push to the branch), recording
	// them as superseded.
	Run       *Run
	Supersede bool
	// Cancel, when set, ends active runs.
	Cancel *Cancel
	// Event defers the decision to an event job (Outcome is
	// OutcomeDeferred): the receiver's only. Its DeliveryRowID is filled
	// in at intake.
	Event *EventJob

	// What only an event job decides (see Resolved).

	// Approve records a maintainer's approval of a pull request's head
	// commit.
	Approve *Approval
	// Logs open the new run's log (how its spec was made).
	Logs []string
	// Pending keeps a generated spec until it is confirmed; Confirm
	// marks one confirmed (once: a second confirmation builds nothing).
	Pending *PendingSpec
	Confirm *ConfirmSpec
}

// Resolved reports whether in holds what only an event job decides
// (approvals, logs, generated specs): such an intent is recorded by
// Resolve, not by Intake.
func (in *Intent) Resolved() bool {
	return in.Approve != nil || len(in.Logs) > 0 || in.Pending != nil || in.Confirm != nil
}

var (
	errResolvedAtIntake = errors.New("an approval, log or generated spec is an event job's decision, not the receiver's")
	errDeferredAgain    = errors.New("an event job's decision cannot defer again")
)

// Cancel asks for the active runs it selects to end: one run, the runs of
// an issue or pull request, or those of a repository and ref.
type Cancel struct {
	RunID int64
	Repo  string
	Ref   string
	// Number, with Repo, selects the runs of an issue or pull request.
	Number int
	Reason string
}

// ConfirmSpec records, in an Intent, that a user with write access
// confirmed pending spec ID.
type ConfirmSpec struct {
	ID int64
	By string
}
