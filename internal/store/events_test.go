package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func TestIntakeBatchActsLikeOneAfterAnother(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := fakeEnqueue(5, 0, nil)
		if _, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("old"), Intent: Intent{Outcome: OutcomeQueued}}, jobs); err != nil {
			t.Fatal(err)
		}
		run := func(sha string) *Run {
			return &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}
		}
		ignored := delivery("d3")
		ignored.Outcome = OutcomeIgnored
		items := []*IntakeItem{
			{Delivery: delivery("d1"), Intent: Intent{Outcome: OutcomeQueued, Run: run("A")}},
			{Delivery: delivery("d1"), Intent: Intent{Outcome: OutcomeQueued, Run: run("A")}}, // the same delivery twice in one batch
			{Delivery: delivery("d2"), Intent: Intent{Outcome: OutcomeQueued, Run: run("A")}}, // another delivery for the same build
			{Delivery: ignored, Intent: Intent{Outcome: ignored.Outcome, Reason: ignored.Reason}},
			{Delivery: delivery("old"), Intent: Intent{Outcome: OutcomeQueued}}, // recorded before
			{Delivery: delivery("d4"), Intent: Intent{Outcome: OutcomeQueued, Run: run("B")}},
		}
		res, errs := db.IntakeBatch(ctx, items, jobs)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
		}
		if res[0].RunID == 0 || res[0].Coalesced || res[0].Duplicate {
			t.Fatalf("first %+v", res[0])
		}
		if !res[1].Duplicate || res[1].RunID != res[0].RunID {
			t.Fatalf("repeat in batch %+v, want duplicate of run %d", res[1], res[0].RunID)
		}
		if !res[2].Coalesced || res[2].RunID != res[0].RunID {
			t.Fatalf("same build %+v", res[2])
		}
		if res[3].RunID != 0 || res[3].Duplicate {
			t.Fatalf("ignored %+v", res[3])
		}
		if !res[4].Duplicate {
			t.Fatalf("old %+v", res[4])
		}
		if res[5].RunID == 0 || res[5].RunID == res[0].RunID {
			t.Fatalf("other build %+v", res[5])
		}
		runs, _ := db.ListRuns(ctx, RunFilter{})
		if len(runs) != 2 {
			t.Fatalf("%d runs, want 2", len(runs))
		}
		d2, _ := db.Delivery(ctx, 42, "d2")
		if d2.RunID == nil || *d2.RunID != res[0].RunID {
			t.Fatalf("d2 linked to %v", d2.RunID)
		}
		// A failing item fails alone: the others of its batch commit.
		bad := delivery("d6")
		bad.Outcome = "bogus" // violates the CHECK constraint
		_, errs = db.IntakeBatch(ctx, []*IntakeItem{{Delivery: delivery("d5"), Intent: Intent{Outcome: OutcomeQueued}}, {Delivery: bad, Intent: Intent{Outcome: bad.Outcome, Reason: bad.Reason}}, {Delivery: delivery("d7"), Intent: Intent{Outcome: OutcomeQueued}}}, jobs)
		if errs[0] != nil || errs[2] != nil || errs[1] == nil {
			t.Fatalf("errors %v", errs)
		}
		for _, id := range []string{"d5", "d7"} {
			if _, err := db.Delivery(ctx, 42, id); err != nil {
				t.Fatalf("%s not recorded: %v", id, err)
			}
		}
	})
}

func TestNewerPushSupersedesActiveRuns(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := &fakeJobs{}
		var ids []int64
		for i, sha := range []string{"s1", "s2"} {
			jobs.jobID = int64(100 + i)
			res, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("p" + sha), Intent: Intent{Outcome: OutcomeQueued, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}}}, jobs)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.RunID)
		}
		// Another branch is not touched.
		jobs.jobID = 200
		other, _ := db.Intake(ctx, &IntakeItem{Delivery: delivery("px"), Intent: Intent{Outcome: OutcomeQueued, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/dev", HeadSHA: "x"}}}, jobs)
		if err := db.EnterStep(ctx, ids[1], "VALIDATING"); err != nil { // s2 is running
			t.Fatal(err)
		}
		jobs.jobID = 300
		res, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("ps3"), Intent: Intent{Outcome: OutcomeQueued, Supersede: true, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: "s3"}}}, jobs)
		if err != nil {
			t.Fatal(err)
		}
		// Both runs end; only the running one's job is stopped (the waiting
		// one's job finds its run ended).
		if !slices.Equal(res.Cancelled, ids) || !slices.Equal(jobs.cancelled, []int64{101}) {
			t.Fatalf("cancelled runs %v jobs %v, want runs %v jobs [101]", res.Cancelled, jobs.cancelled, ids)
		}
		pending, _ := db.Run(ctx, ids[0])
		if pending.Status != run.StatusCancelled || pending.SupersededBy == nil || *pending.SupersededBy != res.RunID ||
			pending.FailureReason != fmt.Sprintf("superseded by run %d", res.RunID) {
			t.Fatalf("waiting run %+v", pending)
		}
		running, _ := db.Run(ctx, ids[1])
		if running.Status != run.StatusInProgress || running.SupersededBy == nil {
			t.Fatalf("running run %+v", running)
		}
		// Its worker sees the cancellation and ends it: the reason names the newer run.
		if err := db.Finish(ctx, ids[1], run.Cancelled, "cancelled"); err != nil {
			t.Fatal(err)
		}
		running, _ = db.Run(ctx, ids[1])
		if running.FailureReason != fmt.Sprintf("superseded by run %d", res.RunID) {
			t.Fatalf("reason %q", running.FailureReason)
		}
		if r, _ := db.Run(ctx, other.RunID); r.Status != run.StatusPending {
			t.Fatalf("run on another branch is %s", r.Status)
		}
		// Cancel by run id, as the check run's Cancel button does.
		res, err = db.Intake(ctx, &IntakeItem{Delivery: delivery("cancel"), Intent: Intent{Outcome: OutcomeQueued, Cancel: &Cancel{RunID: other.RunID, Reason: "cancelled by octocat"}}}, jobs)
		if err != nil || !slices.Equal(res.Cancelled, []int64{other.RunID}) {
			t.Fatalf("cancel: %+v %v", res, err)
		}
		if r, _ := db.Run(ctx, other.RunID); r.Status != run.StatusCancelled || r.FailureReason != "cancelled by octocat" {
			t.Fatalf("cancelled run %+v", r)
		}
	})
}

// Pushes to one branch in one batch: only the newest is queued, the
// others are recorded as superseded by it, and the active run from before
// the batch is cancelled.
func TestBatchOfPushesToOneBranch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := &fakeJobs{jobID: 70}
		push := func(id, sha string) *IntakeItem {
			return &IntakeItem{Delivery: delivery(id), Intent: Intent{Outcome: OutcomeQueued, Supersede: true, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha}}}
		}
		before, err := db.Intake(ctx, push("p0", "s0"), jobs)
		if err != nil {
			t.Fatal(err)
		}
		var queued int
		counting := &countingJobs{fakeJobs: jobs, queued: &queued}
		jobs.jobID = 71
		res, errs := db.IntakeBatch(ctx, []*IntakeItem{push("p1", "s1"), push("p2", "s2"), push("p3", "s3"), push("p3b", "s3")}, counting)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if queued != 1 {
			t.Fatalf("%d builds queued for one batch on one branch, want 1", queued)
		}
		newest := res[2].RunID
		if res[3].RunID != newest || !res[3].Coalesced {
			t.Fatalf("same commit twice: %+v", res[3])
		}
		for _, r := range []int64{before.RunID, res[0].RunID, res[1].RunID} {
			got, _ := db.Run(ctx, r)
			if got.Status != run.StatusCancelled || got.SupersededBy == nil || *got.SupersededBy != newest ||
				got.FailureReason != fmt.Sprintf("superseded by run %d", newest) {
				t.Fatalf("run %d: %+v", r, got)
			}
		}
		if got, _ := db.Run(ctx, newest); got.Status != run.StatusPending || got.JobID == nil || *got.JobID != 71 {
			t.Fatalf("newest run %+v", got)
		}
		if len(jobs.cancelled) != 0 {
			t.Fatalf("cancelled jobs %v: the run from before the batch was waiting; its job finds it ended", jobs.cancelled)
		}
	})
}

type countingJobs struct {
	*fakeJobs
	queued *int
}

func (c *countingJobs) EnqueueBuilds(ctx context.Context, tx *sql.Tx, runs []*Run) ([]Enqueued, error) {
	*c.queued += len(runs)
	return c.fakeJobs.EnqueueBuilds(ctx, tx, runs)
}

func TestResolveDeferredDeliveryOnce(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		jobs := fakeEnqueue(9, 0, nil)
		d := delivery("pr1")
		d.Event, d.Outcome = "pull_request", OutcomeDeferred
		res, err := db.Intake(ctx, &IntakeItem{Delivery: d, Intent: Intent{Outcome: d.Outcome, Reason: d.Reason, Event: &EventJob{Kind: EventPullRequest, Repo: "o/r", Number: 7}}}, jobs)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs.events) != 1 || jobs.events[0].DeliveryRowID != res.DeliveryRowID {
			t.Fatalf("event jobs %+v, delivery row %d", jobs.events, res.DeliveryRowID)
		}
		approve := &Approval{Repo: "o/r", Number: 7, HeadSHA: "A", ApprovedBy: "maintainer"}
		run := &Run{Trigger: run.TriggerPullRequest, Repo: "o/r", Ref: "refs/pull/7/head", HeadSHA: "A", Number: new(7)}
		// Concurrent resolutions (a job run twice) build once.
		var wg sync.WaitGroup
		out := make([]ResolveResult, 4)
		errs := make([]error, 4)
		for i := range out {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i], errs[i] = db.Resolve(ctx, res.DeliveryRowID, Intent{Outcome: OutcomeQueued, Run: run, Approve: approve}, jobs)
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range out {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !out[i].Already {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d resolutions wrote, want 1: %+v", fresh, out)
		}
		runs, _ := db.ListRuns(ctx, RunFilter{})
		if len(runs) != 1 {
			t.Fatalf("%d runs", len(runs))
		}
		got, _ := db.Delivery(ctx, 42, "pr1")
		if got.Outcome != OutcomeQueued || got.RunID == nil || *got.RunID != runs[0].ID {
			t.Fatalf("delivery %+v", got)
		}
		if by, ok, err := db.Approved(ctx, "o/r", 7, "A"); err != nil || !ok || by != "maintainer" {
			t.Fatalf("approval of A: %q %v %v", by, ok, err)
		}
		if _, ok, err := db.Approved(ctx, "o/r", 7, "B"); err != nil || ok {
			t.Fatalf("approval of A covers B: %v %v", ok, err)
		}
		if r, err := db.LatestRunOf(ctx, "o/r", 7); err != nil || r.ID != runs[0].ID {
			t.Fatalf("latest run of #7: %v %v", r, err)
		}
		if r, err := db.LatestRunAt(ctx, "o/r", "A"); err != nil || r.ID != runs[0].ID {
			t.Fatalf("latest run at A: %v %v", r, err)
		}
		rec, err := db.RecordedDeliveries(ctx, 42, []string{"pr1", "nope"})
		if err != nil || !rec["pr1"] || rec["nope"] {
			t.Fatalf("recorded %v %v", rec, err)
		}
	})
}
