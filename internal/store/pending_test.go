package store_test

import (
	"context"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// A pending spec is found only by its installation, repository, number
// and a hex prefix of its hash, and a confirmation builds it once.
func TestPendingSpecConfirmedOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := fakeEnqueue(9, 0, nil)
		deferred := func(id string) int64 {
			d := delivery(id)
			d.Event, d.Outcome = "issue_comment", OutcomeDeferred
			res, err := db.Intake(ctx, &IntakeItem{Delivery: d, Intent: Intent{Outcome: d.Outcome, Reason: d.Reason, Event: &EventJob{Kind: EventCommand, Repo: "o/r", Number: 7}}}, jobs)
			if err != nil {
				t.Fatal(err)
			}
			return res.DeliveryRowID
		}
		src := "base: debian\npostInstall:\n  scripts: [echo hi]\n"
		hash := SpecHash(src)
		p := &PendingSpec{InstallationID: 1, Repo: "o/r", Number: 7, SpecHash: hash, SpecSource: src, Ref: "refs/heads/main",
			HeadSHA: "A", RequestedBy: "maintainer"}
		if _, err := db.Resolve(ctx, deferred("gen"), Intent{Outcome: OutcomeIgnored, Pending: p}, jobs); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, prefix string
			inst         int64
			number, want int
		}{
			{"its hash", hash[:16], 1, 7, 1},
			{"another installation", hash[:16], 2, 7, 0},
			{"another number", hash[:16], 1, 8, 0},
			{"another hash", "0000000000000000", 1, 7, 0},
			{"a LIKE pattern", "%", 1, 7, 0},
			{"upper case", "ABCDEF", 1, 7, 0},
		} {
			got, err := db.PendingSpecs(ctx, tc.inst, "o/r", tc.number, tc.prefix)
			if err != nil || len(got) != tc.want {
				t.Fatalf("%s: %d pending specs (%v), want %d", tc.name, len(got), err, tc.want)
			}
		}
		got, _ := db.PendingSpecs(ctx, 1, "o/r", 7, hash[:16])
		run := &Run{Trigger: run.TriggerComment, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: "A", SpecSource: src, Number: new(7)}
		confirm := func(id string) ResolveResult {
			out, err := db.Resolve(ctx, deferred(id), Intent{Outcome: OutcomeQueued, Run: run,
				Confirm: &ConfirmSpec{ID: got[0].ID, By: "writer"}}, jobs)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if out := confirm("c1"); out.RunID == 0 {
			t.Fatalf("first confirmation built nothing: %+v", out)
		}
		if out := confirm("c2"); out.RunID != 0 {
			t.Fatalf("second confirmation built again: %+v", out)
		}
		if d, _ := db.Delivery(ctx, 42, "c2"); d.Outcome != OutcomeIgnored {
			t.Fatalf("second confirmation recorded as %+v", d)
		}
		if left, _ := db.PendingSpecs(ctx, 1, "o/r", 7, hash[:16]); len(left) != 0 {
			t.Fatalf("confirmed spec still pending: %+v", left)
		}
	})
}
