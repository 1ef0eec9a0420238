package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// errSeenBefore stops an optimistic intake: a delivery of the batch was
// recorded before (a redelivery). The batch is then recorded again the
// careful way.
var errSeenBefore = errors.New("a delivery of the batch was recorded before")

// intakeTx records a batch. Cancellations take effect where they stand in
// the batch: the batch is cut after each item that cancels, and the parts
// are recorded in order. Optimistic intake assumes no delivery of the
// batch was recorded before (redeliveries are rare): the runs are made
// first and each delivery row is written once, with its run.
func intakeTx(ctx context.Context, tx bun.Tx, db *DB, items []*IntakeItem, jobs Jobs, optimistic bool) ([]IntakeResult, error) {
	res := make([]IntakeResult, 0, len(items))
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && items[end-1].Intent.Cancel == nil {
			end++
		}
		part, err := intakePart(ctx, tx, db.utcNow(), items[start:end], jobs, optimistic)
		if err != nil {
			return nil, err
		}
		res = append(res, part...)
		start = end
	}
	return res, nil
}

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

// deliveryRows are the rows of items, with their intents' outcomes and
// ReceivedAt in UTC.
func deliveryRows(items []*IntakeItem, now time.Time) []Delivery {
	rows := make([]Delivery, len(items))
	for i, it := range items {
		rows[i] = *it.Delivery
		rows[i].ID, rows[i].RunID = 0, nil
		rows[i].Outcome, rows[i].Reason = it.Intent.Outcome, it.Intent.Reason
		if rows[i].ReceivedAt.IsZero() {
			rows[i].ReceivedAt = now
		}
		rows[i].ReceivedAt = rows[i].ReceivedAt.UTC()
	}
	return rows
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

func intakePart(ctx context.Context, tx bun.Tx, now time.Time, items []*IntakeItem, jobs Jobs, optimistic bool) ([]IntakeResult, error) {
	// Optimistic intake assumes no replay too: the deliveries' insert
	// itself says whether a body was seen before (replayedSince), and a
	// replay sends the batch down the careful path, which looks the
	// digests up first. Replays are attacks, rare: the common batch pays
	// no statement for the check.
	// SQLite's RETURNING cannot see the inserted row by its alias: there,
	// the digests are looked up first on both paths.
	var replayOf map[int]string
	replayWindow := maxReplayWindow(items)
	inInsert := optimistic && tx.Dialect().Name() == dialect.PG
	if !inInsert || replayWindow > 0 && bodyTwice(items) {
		if inInsert {
			return nil, errSeenBefore
		}
		var err error
		if items, replayOf, err = markReplays(ctx, tx, now, items); err != nil {
			return nil, err
		}
	}
	res := make([]IntakeResult, len(items))
	rows := deliveryRows(items, now)
	var dups []int
	if optimistic {
		// A delivery repeated in the batch is a duplicate of its first copy.
		first := map[string]bool{}
		keep := make([]bool, len(items))
		for i, it := range items {
			if first[it.Delivery.DeliveryID] {
				dups = append(dups, i)
				continue
			}
			first[it.Delivery.DeliveryID], keep[i] = true, true
		}
		groups := groupRuns(items, func(i int) bool { return keep[i] }, res)
		if err := startRuns(ctx, tx, now, groups, jobs); err != nil {
			return nil, err
		}
		runResults(groups, res)
		for i := range rows {
			if res[i].RunID != 0 {
				id := res[i].RunID
				rows[i].RunID = &id
			}
		}
		insert := make([]Delivery, 0, len(rows))
		at := make([]int, 0, len(rows))
		for i := range rows {
			if keep[i] {
				insert = append(insert, rows[i])
				at = append(at, i)
			}
		}
		var inserted []returnedDelivery
		returning := "id, delivery_id"
		var args []any
		if inInsert && replayWindow > 0 {
			returning += ", " + replayedSince
			args = append(args, now.Add(-replayWindow))
		}
		if _, err := tx.NewInsert().Model(&insert).On("CONFLICT (app_id, delivery_id) DO NOTHING").
			Returning(returning, args...).Exec(ctx, &inserted); err != nil {
			return nil, fmt.Errorf("insert deliveries: %w", err)
		}
		if len(inserted) != len(insert) {
			return nil, errSeenBefore
		}
		for _, r := range inserted {
			if r.Replayed {
				return nil, errSeenBefore
			}
		}
		ids := make(map[string]int64, len(inserted))
		for _, r := range inserted {
			ids[r.DeliveryID] = r.ID
		}
		for _, i := range at {
			res[i].DeliveryRowID = ids[items[i].Delivery.DeliveryID]
		}
	} else {
		// One statement inserts every delivery; those already recorded
		// (or repeated in this batch) are not returned.
		var inserted []returnedDelivery
		if _, err := tx.NewInsert().Model(&rows).On("CONFLICT (app_id, delivery_id) DO NOTHING").
			Returning("id, delivery_id").Exec(ctx, &inserted); err != nil {
			return nil, fmt.Errorf("insert deliveries: %w", err)
		}
		fresh := make(map[string]int64, len(inserted))
		for _, r := range inserted {
			fresh[r.DeliveryID] = r.ID
		}
		for i, it := range items {
			rowID, ok := fresh[it.Delivery.DeliveryID]
			if !ok {
				dups = append(dups, i)
				continue
			}
			delete(fresh, it.Delivery.DeliveryID) // a second copy in this batch is a duplicate
			res[i].DeliveryRowID = rowID
		}
		groups := groupRuns(items, func(i int) bool { return res[i].DeliveryRowID != 0 }, res)
		if err := startRuns(ctx, tx, now, groups, jobs); err != nil {
			return nil, err
		}
		// Link the deliveries to their runs in one statement.
		var ids []int64
		var link []any
		runResults(groups, res)
		for _, g := range groups {
			for _, i := range g.items {
				ids = append(ids, res[i].DeliveryRowID)
				link = append(link, res[i].DeliveryRowID, g.run.ID)
			}
		}
		if len(ids) > 0 {
			if _, err := tx.NewUpdate().Model((*Delivery)(nil)).
				Set("run_id = CASE id "+strings.Repeat("WHEN ? THEN ? ", len(ids))+"END", link...).
				Where("id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
				return nil, fmt.Errorf("link deliveries to runs: %w", err)
			}
		}
	}
	for i, it := range items {
		if res[i].DeliveryRowID == 0 {
			continue
		}
		if it.Intent.Event != nil {
			ev := *it.Intent.Event
			ev.DeliveryRowID = res[i].DeliveryRowID
			if _, err := jobs.EnqueueEvent(ctx, tx.Tx, &ev); err != nil {
				return nil, fmt.Errorf("enqueue event: %w", err)
			}
		}
		if it.Intent.Cancel != nil {
			cancelled, err := cancelRuns(ctx, tx, now, jobs, *it.Intent.Cancel, nil)
			if err != nil {
				return nil, err
			}
			res[i].Cancelled = append(res[i].Cancelled, cancelled...)
		}
	}
	for _, i := range dups {
		var prev Delivery
		d := items[i].Delivery
		if err := tx.NewSelect().Model(&prev).Column("id", "run_id").
			Where("app_id = ? AND delivery_id = ?", d.AppID, d.DeliveryID).Scan(ctx); err != nil {
			return nil, fmt.Errorf("read recorded delivery: %w", err)
		}
		res[i] = IntakeResult{Duplicate: true, DeliveryRowID: prev.ID}
		if prev.RunID != nil {
			res[i].RunID = *prev.RunID
		}
	}
	for i, first := range replayOf {
		if !res[i].Duplicate {
			res[i].ReplayOf = first
		}
	}
	return res, nil
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
	last := map[string]int{} // repo, ref → the last superseding group
	for g, grp := range groups {
		if grp.supersede && grp.run.Ref != "" {
			last[grp.run.Repo+"\x00"+grp.run.Ref] = g
		}
	}
	// The runs to queue are inserted first; those born superseded follow,
	// complete, once the run that supersedes them is known.
	var queued, born []int
	for g, grp := range groups {
		if l, ok := last[grp.run.Repo+"\x00"+grp.run.Ref]; ok && grp.supersede && l != g {
			grp.bornSuperseded = l
			born = append(born, g)
		} else {
			queued = append(queued, g)
		}
	}
	runs := make([]Run, len(queued))
	for k, g := range queued {
		runs[k] = groups[g].run
		prepareNewRun(&runs[k], now)
	}
	if _, err := tx.NewInsert().Model(&runs).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert runs: %w", err)
	}
	toQueue := make([]*Run, len(queued))
	for k, g := range queued {
		groups[g].run.ID = runs[k].ID
		toQueue[k] = &runs[k]
	}
	enq, err := jobs.EnqueueBuilds(ctx, tx.Tx, toQueue)
	if err != nil {
		return fmt.Errorf("enqueue builds: %w", err)
	}
	if len(enq) != len(toQueue) {
		return fmt.Errorf("enqueue builds: %d results for %d runs", len(enq), len(toQueue))
	}
	if err := replaceStaleJobs(ctx, tx, toQueue, enq, jobs); err != nil {
		return err
	}
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
		if _, err := tx.NewDelete().Model((*Run)(nil)).Where("id IN (?)", bun.In(drop)).Exec(ctx); err != nil {
			return fmt.Errorf("drop coalesced runs: %w", err)
		}
	}
	if len(withJob) > 0 {
		if _, err := tx.NewUpdate().Model((*Run)(nil)).
			Set("job_id = CASE id "+strings.Repeat("WHEN ? THEN ? ", len(withJob))+"END", jobArgs...).
			Where("id IN (?)", bun.In(withJob)).Exec(ctx); err != nil {
			return fmt.Errorf("record job ids: %w", err)
		}
	}
	if len(born) > 0 {
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
	}
	// A queued superseding run cancels the older active runs of its ref.
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
	if err := tx.NewSelect().Model(&targets).Column("id", "status", "job_id").Where("id IN (?)", bun.In(into)).Scan(ctx); err != nil {
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
