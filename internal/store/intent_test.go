package store_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// One Intent goes from the receiver to Intake and from an event job to
// Resolve; each records only its own part of it. The delivery row takes
// the intent's outcome and reason, not what its Delivery says.
func TestIntentParts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := fakeEnqueue(9, 0, nil)
		d := delivery("i1") // says queued
		res, err := db.Intake(ctx, &IntakeItem{Delivery: d, Intent: Intent{Outcome: OutcomeDeferred, Reason: "waiting",
			Event: &EventJob{Kind: EventCommand, Repo: "o/r", Number: 7}}}, jobs)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := db.Delivery(ctx, d.AppID, "i1"); err != nil || got.Outcome != OutcomeDeferred || got.Reason != "waiting" {
			t.Fatalf("delivery %+v %v, want the intent's outcome and reason", got, err)
		}
		// The receiver cannot approve, log or keep a spec: those are an
		// event job's, after GitHub was asked.
		for _, in := range []Intent{
			{Outcome: OutcomeQueued, Approve: &Approval{Repo: "o/r", Number: 7, HeadSHA: "a", ApprovedBy: "x"}},
			{Outcome: OutcomeQueued, Logs: []string{"made up"}},
			{Outcome: OutcomeIgnored, Pending: &PendingSpec{Repo: "o/r"}},
			{Outcome: OutcomeQueued, Confirm: &ConfirmSpec{ID: 1, By: "x"}},
		} {
			if _, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("bad"), Intent: in}, jobs); err == nil {
				t.Fatalf("intake of %+v recorded", in)
			}
		}
		// In a batch, only that item fails.
		_, errs := db.IntakeBatch(ctx, []*IntakeItem{
			{Delivery: delivery("i2"), Intent: Intent{Outcome: OutcomeIgnored}},
			{Delivery: delivery("bad"), Intent: Intent{Outcome: OutcomeQueued, Logs: []string{"x"}}},
		}, jobs)
		if errs[0] != nil || errs[1] == nil {
			t.Fatalf("batch errors %v", errs)
		}
		if _, err := db.Delivery(ctx, d.AppID, "bad"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused intent's delivery was recorded: %v", err)
		}
		// An event job decides: it cannot defer again.
		if _, err := db.Resolve(ctx, res.DeliveryRowID, Intent{Outcome: OutcomeDeferred, Event: &EventJob{Kind: EventCommand}}, jobs); err == nil {
			t.Fatal("a resolution deferred again")
		}
		if out, err := db.Resolve(ctx, res.DeliveryRowID, Intent{Outcome: OutcomeIgnored, Reason: "/build help"}, jobs); err != nil || out.Already {
			t.Fatalf("resolve %+v %v", out, err)
		}
	})
}
