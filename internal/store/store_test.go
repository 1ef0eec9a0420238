package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func TestMigrationsUpDownUp(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		ctx := context.Background()
		st, err := db.MigrationsStatus(ctx, linuxbuilder.Migrations)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st {
			if !m.Applied {
				t.Fatalf("migration %s not applied after MigrateUp", m.Name)
			}
		}
		if len(st) < 2 {
			t.Fatalf("status lists %d migrations", len(st))
		}
		again, err := db.MigrateUp(ctx, linuxbuilder.Migrations)
		if err != nil || len(again) != 0 {
			t.Fatalf("second MigrateUp applied %v (%v)", again, err)
		}
		down, err := db.MigrateDown(ctx, linuxbuilder.Migrations)
		if err != nil || !slices.Contains(down, "20261126000001") {
			t.Fatalf("MigrateDown: %v %v", down, err)
		}
		if _, err := db.Run(ctx, 1); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("runs table still there after down: %v", err)
		}
		if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Run(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after up again: %v", err)
		}
	})
}

// fakeJobs is a queue that answers EnqueueBuilds with fixed values.
type fakeJobs struct {
	jobID, into int64
	err         error
	events      []EventJob
	cancelled   []int64
	synced      []int64
}

func fakeEnqueue(jobID, into int64, err error) *fakeJobs {
	return &fakeJobs{jobID: jobID, into: into, err: err}
}

func (f *fakeJobs) EnqueueBuilds(_ context.Context, _ *sql.Tx, runs []*Run) ([]Enqueued, error) {
	out := make([]Enqueued, len(runs))
	for i := range out {
		out[i] = Enqueued{JobID: f.jobID, CoalescedInto: f.into}
	}
	return out, f.err
}

func (f *fakeJobs) EnqueueEvent(_ context.Context, _ *sql.Tx, ev *EventJob) (int64, error) {
	f.events = append(f.events, *ev)
	return int64(len(f.events)), f.err
}

func (f *fakeJobs) EnqueueSyncs(_ context.Context, _ *sql.Tx, ids []int64) error {
	f.synced = append(f.synced, ids...)
	return nil
}

func (f *fakeJobs) CancelJob(_ context.Context, _ *sql.Tx, id int64) error {
	f.cancelled = append(f.cancelled, id)
	return f.err
}

func delivery(id string) *Delivery {
	return &Delivery{AppID: 42, DeliveryID: id, Event: "push", Repo: "o/r", Outcome: OutcomeQueued, PayloadSHA256: "abc"}
}

func TestIntake(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		rn := &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: "a1"}
		res, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("d1"), Intent: Intent{Outcome: OutcomeQueued, Run: rn}}, fakeEnqueue(7, 0, nil))
		if err != nil || res.Duplicate || res.RunID == 0 || res.Coalesced {
			t.Fatalf("first intake: %+v %v", res, err)
		}
		got, err := db.Run(ctx, res.RunID)
		if err != nil || got.Status != run.StatusPending || got.JobID == nil || *got.JobID != 7 || !got.CreatedAt.Equal(c.T) {
			t.Fatalf("run %+v %v", got, err)
		}
		d, err := db.Delivery(ctx, 42, "d1")
		if err != nil || d.RunID == nil || *d.RunID != res.RunID {
			t.Fatalf("delivery %+v %v", d, err)
		}

		// A redelivery changes nothing and points at the same run.
		again, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("d1"), Intent: Intent{Outcome: OutcomeQueued, Run: rn}}, fakeEnqueue(8, 0, nil))
		if err != nil || !again.Duplicate || again.RunID != res.RunID {
			t.Fatalf("redelivery: %+v %v", again, err)
		}
		// A second delivery whose job coalesces joins the existing run.
		co, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("d2"), Intent: Intent{Outcome: OutcomeQueued, Run: rn}}, fakeEnqueue(0, res.RunID, nil))
		if err != nil || !co.Coalesced || co.RunID != res.RunID {
			t.Fatalf("coalesced: %+v %v", co, err)
		}
		runs, _ := db.ListRuns(ctx, RunFilter{})
		if len(runs) != 1 {
			t.Fatalf("%d runs after duplicate and coalesced intake, want 1", len(runs))
		}
		// An enqueue failure rolls back the delivery and the run: nothing
		// half-written, and GitHub's redelivery can try again.
		if _, err := db.Intake(ctx, &IntakeItem{Delivery: delivery("d3"), Intent: Intent{Outcome: OutcomeQueued, Run: rn}}, fakeEnqueue(0, 0, errors.New("queue down"))); err == nil {
			t.Fatal("intake succeeded although enqueue failed")
		}
		if _, err := db.Delivery(ctx, 42, "d3"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delivery d3 recorded despite the failure: %v", err)
		}
		if runs, _ := db.ListRuns(ctx, RunFilter{}); len(runs) != 1 {
			t.Fatalf("%d runs after failed intake", len(runs))
		}
		// Deliveries that ask for no build are recorded as such.
		ig := delivery("d4")
		ig.Outcome, ig.Reason = OutcomeIgnored, "tag push"
		res4, err := db.Intake(ctx, &IntakeItem{Delivery: ig, Intent: Intent{Outcome: ig.Outcome, Reason: ig.Reason, Run: nil}}, nil)
		if err != nil || res4.RunID != 0 || res4.Duplicate {
			t.Fatalf("ignored: %+v %v", res4, err)
		}
		d4, _ := db.Delivery(ctx, 42, "d4")
		if d4.Outcome != OutcomeIgnored || d4.Reason != "tag push" {
			t.Fatalf("d4 %+v", d4)
		}
	})
}

func TestRunLifecycle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		rn := &Run{Trigger: run.TriggerCLI, Repo: "o/r", Ref: "refs/heads/main"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		for _, step := range []run.State{run.Validating, run.Generating, run.Building} {
			c.Advance(2 * time.Second)
			if err := db.EnterStep(ctx, rn.ID, step); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.EnterStep(ctx, rn.ID, run.Building); err != nil {
			t.Fatalf("re-entering the current step: %v", err)
		}
		got, _ := db.Run(ctx, rn.ID)
		if got.Status != run.StatusInProgress || got.Step != "BUILDING" {
			t.Fatalf("run %s/%s", got.Status, got.Step)
		}
		c.Advance(5 * time.Second)
		if err := db.Finish(ctx, rn.ID, run.Failed, "docker build: exit 1"); err != nil {
			t.Fatal(err)
		}
		steps, err := db.Steps(ctx, rn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var summary []string
		for _, s := range steps {
			summary = append(summary, fmt.Sprintf("%s:%s:%d", s.Step, s.Status, s.DurationMS))
		}
		want := []string{"VALIDATING:done:2000", "GENERATING:done:2000", "BUILDING:failed:5000"}
		if !slices.Equal(summary, want) {
			t.Fatalf("steps %v, want %v", summary, want)
		}
		got, _ = db.Run(ctx, rn.ID)
		if got.Status != run.StatusFailed || got.FailureReason != "docker build: exit 1" || got.BuildDuration != 11000 {
			t.Fatalf("finished run %+v", got)
		}
		if err := db.Finish(ctx, rn.ID, run.Complete, ""); !errors.Is(err, ErrRunEnded) {
			t.Fatalf("finishing twice: %v", err)
		}
		if err := db.EnterStep(ctx, rn.ID, "UPLOADING"); !errors.Is(err, ErrRunEnded) {
			t.Fatalf("entering a step of an ended run: %v", err)
		}
		if err := db.Finish(ctx, 999999, run.Failed, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finishing a missing run: %v", err)
		}
	})
}

func TestListAndFindRuns(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		var ids []int64
		for i := range 7 {
			r := &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: fmt.Sprint(i)}
			if i%2 == 1 {
				r.Repo = "o/other"
			}
			if err := db.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		page1, _ := db.ListRuns(ctx, RunFilter{Repo: "o/r", Limit: 2})
		page2, _ := db.ListRuns(ctx, RunFilter{Repo: "o/r", Limit: 2, BeforeID: page1[1].ID})
		page3, _ := db.ListRuns(ctx, RunFilter{Repo: "o/r", Limit: 2, BeforeID: page2[1].ID})
		got := []int64{page1[0].ID, page1[1].ID, page2[0].ID, page2[1].ID}
		if !slices.Equal(got, []int64{ids[6], ids[4], ids[2], ids[0]}) || len(page3) != 0 {
			t.Fatalf("pages %v then %d", got, len(page3))
		}
		if err := db.Finish(ctx, ids[6], run.Cancelled, "superseded"); err != nil {
			t.Fatal(err)
		}
		byRef, _ := db.ListRuns(ctx, RunFilter{Repo: "o/r", Ref: "refs/heads/main", Limit: 1})
		if len(byRef) != 1 || byRef[0].ID != ids[6] {
			t.Fatalf("newest run of the ref: %+v", byRef)
		}
		cancelled, _ := db.ListRuns(ctx, RunFilter{Status: run.StatusCancelled})
		if len(cancelled) != 1 {
			t.Fatalf("by status: %d", len(cancelled))
		}
		if none, err := db.ListRuns(ctx, RunFilter{Repo: "o/r", Ref: "refs/heads/none"}); err != nil || len(none) != 0 {
			t.Fatalf("runs of a ref with none: %v %v", none, err)
		}
		base, hash := "debian", "h1"
		if err := db.UpdateRun(ctx, ids[0], RunUpdate{Base: &base, SpecHash: &hash, Warnings: []string{"w1", "w2"}}); err != nil {
			t.Fatal(err)
		}
		r, _ := db.Run(ctx, ids[0])
		if r.Base != "debian" || r.SpecHash != "h1" || !slices.Equal(r.Warnings, []string{"w1", "w2"}) {
			t.Fatalf("updated run %+v", r)
		}
		if err := db.UpdateRun(ctx, 424242, RunUpdate{Base: &base}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing run: %v", err)
		}
	})
}

func TestLogsArtifactsInstallations(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		rn := &Run{Trigger: run.TriggerAPI, Repo: "o/r"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		var lines []RunLog
		for i := range 1234 {
			lines = append(lines, RunLog{RunID: rn.ID, Step: "BUILDING", Message: fmt.Sprintf("line %d", i)})
		}
		lines[5].Level = run.LogError
		if err := db.AppendLogs(ctx, lines); err != nil {
			t.Fatal(err)
		}
		first, _ := db.Logs(ctx, rn.ID, 0, 1000)
		rest, _ := db.Logs(ctx, rn.ID, first[len(first)-1].ID, 1000)
		all := append(first, rest...)
		if len(all) != 1234 || all[0].Message != "line 0" || all[1233].Message != "line 1233" || all[5].Level != run.LogError || all[6].Level != run.LogInfo {
			t.Fatalf("read back %d lines", len(all))
		}

		exp := c.T.Add(time.Hour)
		a := &Artifact{RunID: rn.ID, Name: "image.tar.zst", Type: run.ArtifactImage, Location: "/data/1/image.tar.zst", Size: 10, SHA256: "x", ExpiresAt: &exp}
		if err := db.AddArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
		a2 := *a
		a2.Size = 20
		if err := db.AddArtifact(ctx, &a2); err != nil {
			t.Fatal(err)
		}
		if err := db.AddArtifact(ctx, &Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: "/data/1/linux.iso"}); err != nil {
			t.Fatal(err)
		}
		arts, _ := db.Artifacts(ctx, rn.ID)
		if len(arts) != 2 || arts[0].Name != "image.tar.zst" || arts[0].Size != 20 {
			t.Fatalf("artifacts %+v", arts)
		}
		if err := db.AddArtifact(ctx, &Artifact{RunID: rn.ID, Name: "x", Type: "floppy", Location: "/x"}); err == nil {
			t.Fatal("unknown artifact type accepted")
		}
		if old, _ := db.ExpiredArtifacts(ctx, c.T, 10); len(old) != 0 {
			t.Fatalf("expired too early: %d", len(old))
		}
		old, _ := db.ExpiredArtifacts(ctx, c.T.Add(2*time.Hour), 10)
		if len(old) != 1 || old[0].Name != "image.tar.zst" {
			t.Fatalf("expired %+v", old)
		}
		if err := db.DeleteArtifacts(ctx, []int64{old[0].ID}); err != nil {
			t.Fatal(err)
		}
		if arts, _ := db.Artifacts(ctx, rn.ID); len(arts) != 1 {
			t.Fatalf("%d artifacts after delete", len(arts))
		}

		in := &Installation{ID: 5, Account: "octo", Repositories: []string{"octo/a"}}
		if err := db.UpsertInstallation(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.Suspended, in.Repositories = true, []string{"octo/a", "octo/b"}
		if err := db.UpsertInstallation(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := db.Installation(ctx, 5)
		if err != nil || !got.Suspended || len(got.Repositories) != 2 {
			t.Fatalf("installation %+v %v", got, err)
		}
		if err := db.DeleteInstallation(ctx, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Installation(ctx, 5); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted installation: %v", err)
		}
	})
}

func TestConstraintViolationsAreNotRetried(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		err := db.CreateRun(context.Background(), &Run{Status: "BOGUS", Trigger: run.TriggerAPI, Repo: "o/r"})
		if err == nil || Transient(err) {
			t.Fatalf("check violation: err %v, transient %v; want a permanent error", err, Transient(err))
		}
	})
}
