package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

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

// recordOptimistic records the part assuming none of its deliveries was
// recorded before: the runs are made first, then each delivery row is
// written once, with its run. A delivery repeated in the part is a
// duplicate of its first copy. With a window, the insert also tells
// whether a body was delivered before under another id within it. A
// delivery recorded before, or a replay, stops it (errSeenBefore).
func (p *part) recordOptimistic(ctx context.Context, rows []Delivery, window time.Duration) error {
	keep := p.firstCopies()
	groups := groupRuns(p.items, func(i int) bool { return keep[i] }, p.res)
	if err := startRuns(ctx, p.tx, p.now, groups, p.jobs); err != nil {
		return err
	}
	runResults(groups, p.res)
	for i := range rows {
		if p.res[i].RunID != 0 {
			id := p.res[i].RunID
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
	inserted, err := p.insertNew(ctx, insert, window)
	if err != nil {
		return err
	}
	ids := make(map[string]int64, len(inserted))
	for _, r := range inserted {
		ids[r.DeliveryID] = r.ID
	}
	for _, i := range at {
		p.res[i].DeliveryRowID = ids[p.items[i].Delivery.DeliveryID]
	}
	return nil
}

// firstCopies marks the first copy of each delivery of the part; the
// later copies are duplicates (p.dups).
func (p *part) firstCopies() []bool {
	first := map[string]bool{}
	keep := make([]bool, len(p.items))
	for i, it := range p.items {
		if first[it.Delivery.DeliveryID] {
			p.dups = append(p.dups, i)
			continue
		}
		first[it.Delivery.DeliveryID], keep[i] = true, true
	}
	return keep
}

// insertNew inserts rows, none of which may be recorded already, in one
// statement; with a window, the statement also tells replays
// (replayedSince). A row not inserted, or a replay, is errSeenBefore.
func (p *part) insertNew(ctx context.Context, rows []Delivery, window time.Duration) ([]returnedDelivery, error) {
	var inserted []returnedDelivery
	returning := "id, delivery_id"
	var args []any
	if window > 0 {
		returning += ", " + replayedSince
		args = append(args, p.now.Add(-window))
	}
	if _, err := p.tx.NewInsert().Model(&rows).On("CONFLICT (app_id, delivery_id) DO NOTHING").
		Returning(returning, args...).Exec(ctx, &inserted); err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	if len(inserted) != len(rows) {
		return nil, errSeenBefore
	}
	for _, r := range inserted {
		if r.Replayed {
			return nil, errSeenBefore
		}
	}
	return inserted, nil
}

// recordCareful records the part when some of its deliveries may have
// been recorded before: one statement inserts every delivery (those
// already recorded, or repeated in the part, are not returned: p.dups),
// then the runs of the new ones are made and one statement links the
// deliveries to them.
func (p *part) recordCareful(ctx context.Context, rows []Delivery) error {
	var inserted []returnedDelivery
	if _, err := p.tx.NewInsert().Model(&rows).On("CONFLICT (app_id, delivery_id) DO NOTHING").
		Returning("id, delivery_id").Exec(ctx, &inserted); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	fresh := make(map[string]int64, len(inserted))
	for _, r := range inserted {
		fresh[r.DeliveryID] = r.ID
	}
	for i, it := range p.items {
		rowID, ok := fresh[it.Delivery.DeliveryID]
		if !ok {
			p.dups = append(p.dups, i)
			continue
		}
		delete(fresh, it.Delivery.DeliveryID) // a second copy in this batch is a duplicate
		p.res[i].DeliveryRowID = rowID
	}
	groups := groupRuns(p.items, func(i int) bool { return p.res[i].DeliveryRowID != 0 }, p.res)
	if err := startRuns(ctx, p.tx, p.now, groups, p.jobs); err != nil {
		return err
	}
	runResults(groups, p.res)
	return p.linkRuns(ctx, groups)
}

// linkRuns links the deliveries of groups to their runs in one statement.
func (p *part) linkRuns(ctx context.Context, groups []*runGroup) error {
	var ids []int64
	var link []any
	for _, g := range groups {
		for _, i := range g.items {
			ids = append(ids, p.res[i].DeliveryRowID)
			link = append(link, p.res[i].DeliveryRowID, g.run.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := p.tx.NewUpdate().Model((*Delivery)(nil)).
		Set("run_id = CASE id "+strings.Repeat("WHEN ? THEN ? ", len(ids))+"END", link...).
		Where("id IN (?)", bun.List(ids)).Exec(ctx); err != nil {
		return fmt.Errorf("link deliveries to runs: %w", err)
	}
	return nil
}
