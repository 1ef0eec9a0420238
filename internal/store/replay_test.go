package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// signed is a delivery of a push whose body has the digest sha, asking
// for a build of head, remembered for a day.
func signed(id, sha, head string) *IntakeItem {
	d := delivery(id)
	d.PayloadSHA256 = sha
	return &IntakeItem{Delivery: d, Intent: Intent{Outcome: d.Outcome, Reason: d.Reason, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: head}}, ReplayWindow: 24 * time.Hour}
}

// A captured body replayed under a new delivery id is recorded as a
// replay and starts nothing, alone or in a batch, while its first
// delivery is remembered; a redelivery (same id) is still a duplicate.
func TestReplayedPayloadStartsNothing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		jobs := fakeEnqueue(7, 0, nil)
		first, err := db.Intake(ctx, signed("d1", "p1", "A"), jobs)
		if err != nil || first.RunID == 0 {
			t.Fatalf("first: %+v %v", first, err)
		}
		c.Advance(time.Hour)
		tests := []struct {
			name       string
			items      []*IntakeItem
			wantReplay []string // per item: the delivery it replays ("" none)
			wantRuns   int      // runs recorded after the batch
		}{
			{name: "replay under a new id", items: []*IntakeItem{signed("d2", "p1", "A")}, wantReplay: []string{"d1"}, wantRuns: 1},
			{name: "replay with the event job and cancel", items: []*IntakeItem{func() *IntakeItem {
				it := signed("d3", "p1", "A")
				it.Intent.Event, it.Intent.Cancel = &EventJob{Kind: "comment"}, &Cancel{Repo: "o/r", Ref: "refs/heads/main"}
				return it
			}()}, wantReplay: []string{"d1"}, wantRuns: 1},
			{name: "redelivery is a duplicate, not a replay", items: []*IntakeItem{signed("d1", "p1", "A")}, wantReplay: []string{""}, wantRuns: 1},
			{name: "new body and its replay in one batch", items: []*IntakeItem{signed("d4", "p2", "B"), signed("d5", "p2", "B"), signed("d6", "p1", "A")},
				wantReplay: []string{"", "d4", "d1"}, wantRuns: 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, errs := db.IntakeBatch(ctx, tt.items, jobs)
				for i, r := range res {
					if errs[i] != nil {
						t.Fatalf("item %d: %v", i, errs[i])
					}
					if r.ReplayOf != tt.wantReplay[i] {
						t.Fatalf("item %d: %+v, want a replay of %q", i, r, tt.wantReplay[i])
					}
					if r.ReplayOf == "" {
						continue
					}
					if r.RunID != 0 || r.Duplicate || len(r.Cancelled) != 0 {
						t.Fatalf("replay %d did something: %+v", i, r)
					}
					d, err := db.Delivery(ctx, 42, tt.items[i].Delivery.DeliveryID)
					if err != nil || d.Outcome != OutcomeIgnored || d.RunID != nil || !strings.Contains(d.Reason, r.ReplayOf) {
						t.Fatalf("replay recorded as %+v (%v)", d, err)
					}
				}
				if runs, _ := db.ListRuns(ctx, RunFilter{}); len(runs) != tt.wantRuns {
					t.Fatalf("%d runs, want %d", len(runs), tt.wantRuns)
				}
			})
		}
		if len(jobs.events) != 0 || len(jobs.cancelled) != 0 {
			t.Fatalf("a replay queued events %v or cancelled jobs %v", jobs.events, jobs.cancelled)
		}
		// Outside the window (or without one) the body is new again.
		// (A replay is remembered too: the window runs from the last copy.)
		c.Advance(25 * time.Hour)
		late, err := db.Intake(ctx, signed("d7", "p1", "C"), jobs)
		if err != nil || late.ReplayOf != "" || late.RunID == 0 {
			t.Fatalf("after the window: %+v %v", late, err)
		}
		off := signed("d8", "p1", "D")
		off.ReplayWindow = 0
		if res, err := db.Intake(ctx, off, jobs); err != nil || res.ReplayOf != "" || res.RunID == 0 {
			t.Fatalf("without a window: %+v %v", res, err)
		}
	})
}
