// Package report shows runs on GitHub: the check run of each run (a
// reconciler that makes GitHub say what the store says, with the spec's
// diagnostics as annotations and Cancel/Rebuild buttons), the status
// comment and reaction of comment-triggered runs, and the release of a
// successful run with its files.
//
// It depends on narrow interfaces it declares (CheckStore, CheckGitHub,
// ReleaseStore, ReleaseGitHub), not on the store or the client: cmd/bot
// wires *store.DB and *github.App into them. What a check run should say
// is a pure plan (PlanCheckRun, from the run's report); applying it is
// the REST calls and recording what was sent.
package report
