package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// seenPayload is a recorded delivery's body digest.
type seenPayload struct {
	AppID      int64     `bun:"app_id"`
	DeliveryID string    `bun:"delivery_id"`
	Payload    string    `bun:"payload_sha256"`
	ReceivedAt time.Time `bun:"received_at"`
}

// replayedSince is the RETURNING expression of a delivery insert that
// tells whether the row's body was delivered before under another id
// since the time given as its argument (the statement's snapshot does not
// hold the rows it inserts; a body twice in one batch is bodyTwice's).
// "app_id + 0" keeps the planner on the digest index: on a table without
// statistics yet (a fresh database under load) it otherwise ANDs in the
// app index, a scan of every delivery per row.
const replayedSince = `EXISTS (SELECT 1 FROM deliveries AS seen WHERE seen.payload_sha256 = d.payload_sha256
	AND seen.received_at >= ? AND seen.app_id + 0 = d.app_id AND seen.payload_sha256 <> ''
	AND seen.delivery_id <> d.delivery_id) AS replayed`

// maxReplayWindow is the longest replay window of items (0: no check).
func maxReplayWindow(items []*IntakeItem) time.Duration {
	var w time.Duration
	for _, it := range items {
		if it.Delivery.PayloadSHA256 != "" {
			w = max(w, it.ReplayWindow)
		}
	}
	return w
}

// bodyTwice reports whether two items of the batch carry the same body
// under different delivery ids.
func bodyTwice(items []*IntakeItem) bool {
	seen := make(map[string]string, len(items))
	for _, it := range items {
		d := it.Delivery
		if it.ReplayWindow <= 0 || d.PayloadSHA256 == "" {
			continue
		}
		k := fmt.Sprint(d.AppID) + "/" + d.PayloadSHA256
		if id, ok := seen[k]; ok && id != d.DeliveryID {
			return true
		}
		seen[k] = d.DeliveryID
	}
	return false
}

// markReplays finds the items whose body (PayloadSHA256) was delivered
// before under another delivery id within the item's ReplayWindow: a
// signed body captured and sent again. Such an item is returned as a copy
// that asks for nothing (no run, event job or cancellation) and is
// recorded as ignored, naming the first delivery; replayOf maps its index
// to that delivery's id. The others are returned as they are. One
// statement looks the batch's digests up; a body twice in the batch
// under two ids is a replay of its first copy.
func markReplays(ctx context.Context, tx bun.Tx, now time.Time, items []*IntakeItem) ([]*IntakeItem, map[int]string, error) {
	var digests []string
	var window time.Duration
	for _, it := range items {
		if it.ReplayWindow > 0 && it.Delivery.PayloadSHA256 != "" {
			digests = append(digests, it.Delivery.PayloadSHA256)
			window = max(window, it.ReplayWindow)
		}
	}
	if len(digests) == 0 {
		return items, nil, nil
	}
	var seen []seenPayload
	if err := tx.NewSelect().Model((*Delivery)(nil)).Column("app_id", "delivery_id", "payload_sha256", "received_at").
		Where("payload_sha256 IN (?)", bun.List(digests)).Where("received_at >= ?", now.Add(-window)).
		OrderExpr("received_at, id").Scan(ctx, &seen); err != nil {
		return nil, nil, fmt.Errorf("look up payload digests: %w", err)
	}
	out := items
	replayOf := map[int]string{}
	for i, it := range items {
		d := it.Delivery
		if it.ReplayWindow <= 0 || d.PayloadSHA256 == "" {
			continue
		}
		first := ""
		for _, s := range seen {
			if s.AppID == d.AppID && s.Payload == d.PayloadSHA256 && s.DeliveryID != d.DeliveryID &&
				!s.ReceivedAt.Before(now.Add(-it.ReplayWindow)) {
				first = s.DeliveryID
				break
			}
		}
		for _, prev := range items[:i] {
			if first != "" {
				break
			}
			if p := prev.Delivery; p.AppID == d.AppID && p.PayloadSHA256 == d.PayloadSHA256 && p.DeliveryID != d.DeliveryID {
				first = p.DeliveryID
			}
		}
		if first == "" {
			continue
		}
		if len(replayOf) == 0 {
			out = append([]*IntakeItem(nil), items...)
		}
		replayOf[i] = first
		out[i] = &IntakeItem{Delivery: d, Intent: Intent{Outcome: OutcomeIgnored,
			Reason: fmt.Sprintf("replay of delivery %s (the same payload)", first)}}
	}
	return out, replayOf, nil
}

// PayloadSeen returns a delivery of appID whose body had digest, received
// at or after since under an id other than deliveryID ("" when none): the
// receiver asks before it applies an installation event, which changes
// state before intake records it.
func (db *DB) PayloadSeen(ctx context.Context, appID int64, digest, deliveryID string, since time.Time) (string, error) {
	var ids []string
	err := db.withRetry(ctx, "look up payload", func(ctx context.Context) error {
		ids = ids[:0]
		return db.Bun.NewSelect().Model((*Delivery)(nil)).Column("delivery_id").
			Where("payload_sha256 = ? AND received_at >= ? AND app_id = ? AND delivery_id <> ?", digest, since.UTC(), appID, deliveryID).
			OrderExpr("received_at, id").Limit(1).Scan(ctx, &ids)
	})
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[0], nil
}
