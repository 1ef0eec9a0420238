package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// runGroup is one build a batch asks for: the deliveries asking for the
// same repository, head SHA and trigger share it.
type runGroup struct {
	run       Run
	items     []int
	supersede bool
	// bornSuperseded is the index of the later group of the same batch
	// that supersedes this one (-1: none). Such a run is recorded as
	// superseded and never queued.
	bornSuperseded int
	coalesced      bool
	cancelled      []int64
}

// groupRuns groups the runs asked for by the items that are not
// duplicates; res marks the coalesced ones.
func groupRuns(items []*IntakeItem, fresh func(i int) bool, res []IntakeResult) []*runGroup {
	var groups []*runGroup
	byKey := map[string]int{}
	for i, it := range items {
		run := it.Intent.Run
		if run == nil || !fresh(i) {
			continue
		}
		key := run.Repo + "\x00" + run.HeadSHA + "\x00" + string(run.Trigger)
		g, ok := byKey[key]
		if !ok {
			g = len(groups)
			byKey[key] = g
			groups = append(groups, &runGroup{run: *run, bornSuperseded: -1})
		} else {
			res[i].Coalesced = true // the same build asked twice in one batch: one run
		}
		groups[g].items = append(groups[g].items, i)
		groups[g].supersede = groups[g].supersede || it.Intent.Supersede
	}
	return groups
}

// runResults tells each delivery of groups its run, whether it joined an
// existing one, and (on the first delivery of a run) what it cancelled.
func runResults(groups []*runGroup, res []IntakeResult) {
	for _, g := range groups {
		for k, i := range g.items {
			res[i].RunID = g.run.ID
			res[i].Coalesced = res[i].Coalesced || g.coalesced
			if k == 0 {
				res[i].Cancelled = g.cancelled
			}
		}
	}
}

// startRuns records the runs of groups and queues their builds in a few
// statements, however many groups there are. Among groups that supersede
// on the same repository and ref only the last is queued: the earlier
// ones are recorded as superseded by it. A group whose build is already
// queued joins that build's run (coalesced). A queued superseding run
// cancels the older active runs of its repository and ref.
func startRuns(ctx context.Context, tx bun.Tx, now time.Time, groups []*runGroup, jobs Jobs) error {
	if len(groups) == 0 {
		return nil
	}
	queued, born := planSupersede(groups)
	enq, err := queueRuns(ctx, tx, now, groups, queued, jobs)
	if err != nil {
		return err
	}
	if err := settleJobs(ctx, tx, groups, queued, enq); err != nil {
		return err
	}
	if err := insertBornSuperseded(ctx, tx, now, groups, born); err != nil {
		return err
	}
	return supersedeOlder(ctx, tx, now, groups, queued, jobs)
}

// planSupersede splits groups into those to queue and those born
// superseded (setting their bornSuperseded): among the groups that
// supersede on the same repository and ref, all but the last.
func planSupersede(groups []*runGroup) (queued, born []int) {
	last := map[string]int{} // repo, ref → the last superseding group
	for g, grp := range groups {
		if grp.supersede && grp.run.Ref != "" {
			last[grp.run.Repo+"\x00"+grp.run.Ref] = g
		}
	}
	for g, grp := range groups {
		if l, ok := last[grp.run.Repo+"\x00"+grp.run.Ref]; ok && grp.supersede && l != g {
			grp.bornSuperseded = l
			born = append(born, g)
		} else {
			queued = append(queued, g)
		}
	}
	return queued, born
}

// queueRuns inserts the runs of the queued groups (setting their ids) and
// queues their builds: one result each, in order (see replaceStaleJobs).
// The runs to queue are inserted first; those born superseded follow,
// complete, once the run that supersedes them is known.
func queueRuns(ctx context.Context, tx bun.Tx, now time.Time, groups []*runGroup, queued []int, jobs Jobs) ([]Enqueued, error) {
	runs := make([]Run, len(queued))
	for k, g := range queued {
		runs[k] = groups[g].run
		prepareNewRun(&runs[k], now)
	}
	if _, err := tx.NewInsert().Model(&runs).Returning("id").Exec(ctx); err != nil {
		return nil, fmt.Errorf("insert runs: %w", err)
	}
	toQueue := make([]*Run, len(queued))
	for k, g := range queued {
		groups[g].run.ID = runs[k].ID
		toQueue[k] = &runs[k]
	}
	enq, err := jobs.EnqueueBuilds(ctx, tx.Tx, toQueue)
	if err != nil {
		return nil, fmt.Errorf("enqueue builds: %w", err)
	}
	if len(enq) != len(toQueue) {
		return nil, fmt.Errorf("enqueue builds: %d results for %d runs", len(enq), len(toQueue))
	}
	if err := replaceStaleJobs(ctx, tx, toQueue, enq, jobs); err != nil {
		return nil, err
	}
	return enq, nil
}

// settleJobs applies what queueing did to the queued groups: a group
// whose build joined an equivalent queued job joins that job's run (its
// own run is deleted, one statement for all), the others record their
// job ids (one statement).
func settleJobs(ctx context.Context, tx bun.Tx, groups []*runGroup, queued []int, enq []Enqueued) error {
	var drop, withJob []int64
	var jobArgs []any
	for k, g := range queued {
		grp := groups[g]
		if into := enq[k].CoalescedInto; into != 0 {
			// An equivalent job is queued: these deliveries join its run.
			drop = append(drop, grp.run.ID)
			grp.run.ID, grp.coalesced = into, true
			continue
		}
		withJob = append(withJob, grp.run.ID)
		jobArgs = append(jobArgs, grp.run.ID, enq[k].JobID)
	}
	if len(drop) > 0 {
		if _, err := tx.NewDelete().Model((*Run)(nil)).Where("id IN (?)", bun.List(drop)).Exec(ctx); err != nil {
			return fmt.Errorf("drop coalesced runs: %w", err)
		}
	}
	if len(withJob) > 0 {
		if _, err := tx.NewUpdate().Model((*Run)(nil)).
			Set("job_id = CASE id "+strings.Repeat("WHEN ? THEN ? ", len(withJob))+"END", jobArgs...).
			Where("id IN (?)", bun.List(withJob)).Exec(ctx); err != nil {
			return fmt.Errorf("record job ids: %w", err)
		}
	}
	return nil
}

// insertBornSuperseded records the runs of the born groups, complete and
// superseded by the run of their bornSuperseded group, in one statement;
// that group's first delivery reports them cancelled.
func insertBornSuperseded(ctx context.Context, tx bun.Tx, now time.Time, groups []*runGroup, born []int) error {
	if len(born) == 0 {
		return nil
	}
	bornRuns := make([]Run, len(born))
	for k, g := range born {
		by := groups[groups[g].bornSuperseded].run.ID
		bornRuns[k] = groups[g].run
		prepareNewRun(&bornRuns[k], now)
		bornRuns[k].Status, bornRuns[k].Step = run.StatusCancelled, run.Cancelled
		bornRuns[k].SupersededBy, bornRuns[k].FailureReason = &by, fmt.Sprintf("superseded by run %d", by)
	}
	if _, err := tx.NewInsert().Model(&bornRuns).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert superseded runs: %w", err)
	}
	for k, g := range born {
		groups[g].run.ID = bornRuns[k].ID
		l := groups[g].bornSuperseded
		groups[l].cancelled = append(groups[l].cancelled, bornRuns[k].ID)
	}
	return nil
}

// supersedeOlder has each queued superseding run (not coalesced) cancel
// the older active runs of its repository and ref.
func supersedeOlder(ctx context.Context, tx bun.Tx, now time.Time, groups []*runGroup, queued []int, jobs Jobs) error {
	for _, g := range queued {
		grp := groups[g]
		if !grp.supersede || grp.coalesced || grp.run.Ref == "" {
			continue
		}
		by := grp.run.ID
		cancelled, err := cancelRuns(ctx, tx, now, jobs, Cancel{Repo: grp.run.Repo, Ref: grp.run.Ref,
			Reason: fmt.Sprintf("superseded by run %d", by)}, &by)
		if err != nil {
			return err
		}
		grp.cancelled = append(grp.cancelled, cancelled...)
	}
	return nil
}

// replaceStaleJobs handles builds that coalesced into the waiting job of a
// run that has ended (superseded while it waited: its job is left to find
// that out): the stale job is cancelled and the build queued anew.
func replaceStaleJobs(ctx context.Context, tx bun.Tx, runs []*Run, enq []Enqueued, jobs Jobs) error {
	var into []int64
	for _, e := range enq {
		if e.CoalescedInto != 0 {
			into = append(into, e.CoalescedInto)
		}
	}
	if len(into) == 0 {
		return nil
	}
	var targets []Run
	if err := tx.NewSelect().Model(&targets).Column("id", "status", "job_id").Where("id IN (?)", bun.List(into)).Scan(ctx); err != nil {
		return fmt.Errorf("read coalesced runs: %w", err)
	}
	ended := map[int64]*int64{}
	for _, t := range targets {
		if t.Status.Terminal() {
			ended[t.ID] = t.JobID
		}
	}
	var again []*Run
	var at []int
	for i, e := range enq {
		jobID, stale := ended[e.CoalescedInto]
		if !stale {
			continue
		}
		if jobID != nil {
			if err := jobs.CancelJob(ctx, tx.Tx, *jobID); err != nil {
				return fmt.Errorf("cancel the stale job of run %d: %w", e.CoalescedInto, err)
			}
		}
		again, at = append(again, runs[i]), append(at, i)
	}
	if len(again) == 0 {
		return nil
	}
	fresh, err := jobs.EnqueueBuilds(ctx, tx.Tx, again)
	if err != nil {
		return fmt.Errorf("enqueue builds: %w", err)
	}
	for k, i := range at {
		enq[i] = fresh[k]
	}
	return nil
}
