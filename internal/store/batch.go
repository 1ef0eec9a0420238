package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// part is one part of a batch being recorded in a transaction: its items
// and, index for index, what intake did with them.
type part struct {
	tx    bun.Tx
	now   time.Time
	jobs  Jobs
	items []*IntakeItem
	res   []IntakeResult
	// dups are the indexes of the deliveries recorded before (or
	// repeated earlier in the part): read back last, as duplicates.
	dups []int
}

// intakePart records one part of a batch, in this order of statements:
// the replay lookup (careful path, or SQLite), the deliveries and the
// runs they ask for with their builds (optimistic: runs first, then each
// delivery row once with its run; careful: deliveries first, then runs,
// then one statement linking them), the event jobs and cancellations of
// the new deliveries, and last the records of the duplicates.
func intakePart(ctx context.Context, tx bun.Tx, now time.Time, items []*IntakeItem, jobs Jobs, optimistic bool) ([]IntakeResult, error) {
	// Optimistic intake assumes no replay too: the deliveries' insert
	// itself says whether a body was seen before (replayedSince), and a
	// replay sends the batch down the careful path, which looks the
	// digests up first. Replays are attacks, rare: the common batch pays
	// no statement for the check.
	// SQLite's RETURNING cannot see the inserted row by its alias: there,
	// the digests are looked up first on both paths.
	replayWindow := maxReplayWindow(items)
	inInsert := optimistic && tx.Dialect().Name() == dialect.PG
	items, replayOf, err := replaysFirst(ctx, tx, now, items, inInsert, replayWindow)
	if err != nil {
		return nil, err
	}
	p := &part{tx: tx, now: now, jobs: jobs, items: items, res: make([]IntakeResult, len(items))}
	rows := deliveryRows(items, now)
	if optimistic {
		var window time.Duration // 0: the insert does not check for replays
		if inInsert {
			window = replayWindow
		}
		err = p.recordOptimistic(ctx, rows, window)
	} else {
		err = p.recordCareful(ctx, rows)
	}
	if err != nil {
		return nil, err
	}
	if err := p.applyIntents(ctx); err != nil {
		return nil, err
	}
	if err := p.readDuplicates(ctx); err != nil {
		return nil, err
	}
	for i, first := range replayOf {
		if !p.res[i].Duplicate {
			p.res[i].ReplayOf = first
		}
	}
	return p.res, nil
}

// replaysFirst looks the items' bodies up before the deliveries are
// inserted, unless the insert itself tells replays (inInsert), which it
// can only for bodies delivered before the batch: a body twice in the
// batch (with a replay window) then stops the optimistic intake
// (errSeenBefore). It returns the items, replays made into copies that
// ask for nothing, and the replays' first deliveries by index (see
// markReplays).
func replaysFirst(ctx context.Context, tx bun.Tx, now time.Time, items []*IntakeItem, inInsert bool, window time.Duration) ([]*IntakeItem, map[int]string, error) {
	if inInsert && (window <= 0 || !bodyTwice(items)) {
		return items, nil, nil
	}
	if inInsert {
		return nil, nil, errSeenBefore
	}
	return markReplays(ctx, tx, now, items)
}

// applyIntents queues the event jobs and carries out the cancellations of
// the part's new deliveries, in order.
func (p *part) applyIntents(ctx context.Context) error {
	for i, it := range p.items {
		if p.res[i].DeliveryRowID == 0 {
			continue
		}
		if it.Intent.Event != nil {
			ev := *it.Intent.Event
			ev.DeliveryRowID = p.res[i].DeliveryRowID
			if _, err := p.jobs.EnqueueEvent(ctx, p.tx.Tx, &ev); err != nil {
				return fmt.Errorf("enqueue event: %w", err)
			}
		}
		if it.Intent.Cancel != nil {
			cancelled, err := cancelRuns(ctx, p.tx, p.now, p.jobs, *it.Intent.Cancel, nil)
			if err != nil {
				return err
			}
			p.res[i].Cancelled = append(p.res[i].Cancelled, cancelled...)
		}
	}
	return nil
}

// readDuplicates reports each duplicate with the row recorded first and
// its run, one statement each (redeliveries are rare).
func (p *part) readDuplicates(ctx context.Context) error {
	for _, i := range p.dups {
		var prev Delivery
		d := p.items[i].Delivery
		if err := p.tx.NewSelect().Model(&prev).Column("id", "run_id").
			Where("app_id = ? AND delivery_id = ?", d.AppID, d.DeliveryID).Scan(ctx); err != nil {
			return fmt.Errorf("read recorded delivery: %w", err)
		}
		p.res[i] = IntakeResult{Duplicate: true, DeliveryRowID: prev.ID}
		if prev.RunID != nil {
			p.res[i].RunID = *prev.RunID
		}
	}
	return nil
}
