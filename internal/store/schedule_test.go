package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// finished creates a run and ends it with status.
func finished(t *testing.T, db *DB, r *Run, final run.State) *Run {
	t.Helper()
	ctx := context.Background()
	inst := int64(9)
	r.InstallationID = &inst
	installed(t, db, inst, r.Repo)
	if err := db.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(ctx, r.ID, final, ""); err != nil {
		t.Fatal(err)
	}
	got, err := db.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// installed records repo as one of installation id's repositories.
func installed(t *testing.T, db *DB, id int64, repo string) {
	t.Helper()
	ctx := context.Background()
	in, err := db.Installation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		in, err = &Installation{ID: id, Account: "o"}, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range in.Repositories {
		if r == repo {
			return
		}
	}
	in.Repositories = append(in.Repositories, repo)
	if err := db.UpsertInstallation(ctx, in); err != nil {
		t.Fatal(err)
	}
}

func TestScheduleCandidates(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		main := func(sha string) *Run {
			return &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", DefaultBranch: "main", HeadSHA: sha, SpecPath: "linux-build.yaml"}
		}
		finished(t, db, main("a1"), run.Complete)
		latest := finished(t, db, main("a2"), run.Complete)
		finished(t, db, main("a3"), run.Failed) // a failure is not a candidate, nor hides one
		finished(t, db, &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/topic", DefaultBranch: "main", HeadSHA: "b1"}, run.Complete)
		finished(t, db, &Run{Trigger: run.TriggerPush, Repo: "o/old", Ref: "refs/heads/main", HeadSHA: "c1"}, run.Complete) // before default_branch was recorded
		got, err := db.ScheduleCandidates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Run.ID != latest.ID || got[0].Check != nil {
			t.Fatalf("candidates %+v, want run %d alone", got, latest.ID)
		}

		// Two workers claim the same check: one wins.
		var wg sync.WaitGroup
		wins, lost := 0, 0
		var mu sync.Mutex
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.ClaimScheduleCheck(ctx, latest.ID, nil, c.T)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrClaimLost):
					lost++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || lost != 3 {
			t.Fatalf("first claims: %d won, %d lost", wins, lost)
		}
		got, _ = db.ScheduleCandidates(ctx)
		prev := got[0].Check
		if prev == nil || !prev.CheckedAt.Equal(c.T) || prev.Claim != 1 {
			t.Fatalf("check %+v", prev)
		}
		// A failed check goes back to the previous time; a done one stays.
		c.Advance(time.Hour)
		claim, err := db.ClaimScheduleCheck(ctx, latest.ID, prev, c.T)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimScheduleCheck(ctx, latest.ID, prev, c.T); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("a stale claim: %v", err)
		}
		if err := db.EndScheduleCheck(ctx, latest.ID, claim, prev, "mirror down", true); err != nil {
			t.Fatal(err)
		}
		got, _ = db.ScheduleCandidates(ctx)
		if !got[0].Check.CheckedAt.Equal(prev.CheckedAt) || got[0].Check.Note != "mirror down" {
			t.Fatalf("after a failed check: %+v", got[0].Check)
		}
		again := latest.Rerun("linux-builder")
		again.Trigger, again.PackageUpdates = run.TriggerSchedule, `[{"name":"libc6","old":"1","new":"2"}]`
		if _, err := db.StartScheduledRebuild(ctx, latest.ID, claim, again, fakeEnqueue(5, 0, nil), time.Hour); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("a rebuild on a lost claim: %v", err)
		}
		claim, err = db.ClaimScheduleCheck(ctx, latest.ID, got[0].Check, c.T)
		if err != nil {
			t.Fatal(err)
		}
		id, err := db.StartScheduledRebuild(ctx, latest.ID, claim, again, fakeEnqueue(5, 0, nil), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := db.Run(ctx, id)
		if err != nil || rb.Trigger != run.TriggerSchedule || rb.PackageUpdates != again.PackageUpdates || !rb.NoCache || rb.DefaultBranch != "main" || rb.HeadSHA != "a2" {
			t.Fatalf("rebuild %+v %v", rb, err)
		}
		got, _ = db.ScheduleCandidates(ctx)
		if got[0].Check.RebuildRunID == nil || *got[0].Check.RebuildRunID != id {
			t.Fatalf("check %+v", got[0].Check)
		}
		// Artifacts of the new type are accepted by both dialects.
		if err := db.AddArtifact(ctx, &Artifact{RunID: id, Name: "packages.txt", Type: run.ArtifactManifest, Location: "/x"}); err != nil {
			t.Fatal(err)
		}
	})
}

// Attack: a repository rebuilt by the schedule is not rebuilt again
// within the minimum interval, whatever its cron says (two spec paths, or
// a claim raced past the checker's own test, cannot add rebuilds).
func TestScheduledRebuildMinInterval(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		a := finished(t, db, &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", DefaultBranch: "main", HeadSHA: "a1", SpecPath: "a.yaml"}, run.Complete)
		b := finished(t, db, &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", DefaultBranch: "main", HeadSHA: "a1", SpecPath: "b.yaml"}, run.Complete)
		rebuild := func(r *Run) error {
			got, err := db.ScheduleCandidates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var prev *ScheduleCheck
			for _, cand := range got {
				if cand.Run.ID == r.ID {
					prev = cand.Check
				}
			}
			claim, err := db.ClaimScheduleCheck(ctx, r.ID, prev, c.T)
			if err != nil {
				t.Fatal(err)
			}
			again := r.Rerun("linux-builder[schedule]")
			again.Trigger = run.TriggerSchedule
			_, err = db.StartScheduledRebuild(ctx, r.ID, claim, again, fakeEnqueue(5, 0, nil), time.Hour)
			if err != nil {
				if err := db.EndScheduleCheck(ctx, r.ID, claim, prev, "too soon", true); err != nil {
					t.Fatal(err)
				}
			}
			return err
		}
		if err := rebuild(a); err != nil {
			t.Fatal(err)
		}
		start := c.T
		got, _ := db.ScheduleCandidates(ctx)
		for _, cand := range got {
			if !cand.LastRebuild.Equal(start) {
				t.Errorf("candidate %d: last scheduled rebuild of the repository %v, want %v", cand.Run.ID, cand.LastRebuild, start)
			}
		}
		c.Advance(59 * time.Minute)
		if err := rebuild(b); !errors.Is(err, ErrTooSoon) {
			t.Fatalf("a second scheduled rebuild of o/r 59 minutes after the first: %v, want ErrTooSoon", err)
		}
		c.Advance(time.Minute)
		if err := rebuild(b); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
	})
}

// Attack: a suspended installation, an uninstalled one, or a repository
// removed from its installation gets no scheduled rebuild: not listed as a
// candidate, and refused when the rebuild starts (the installation changed
// between the two).
func TestScheduleSkipsGoneInstallations(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, db *DB, id int64)
	}{
		{name: "suspended", change: func(t *testing.T, db *DB, id int64) {
			in, _ := db.Installation(context.Background(), id)
			in.Suspended = true
			if err := db.UpsertInstallation(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "uninstalled", change: func(t *testing.T, db *DB, id int64) {
			if err := db.DeleteInstallation(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "repository removed", change: func(t *testing.T, db *DB, id int64) {
			in, _ := db.Installation(context.Background(), id)
			in.Repositories = []string{"o/other"}
			if err := db.UpsertInstallation(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
				ctx := context.Background()
				r := finished(t, db, &Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", DefaultBranch: "main", HeadSHA: "a1", SpecPath: "linux-build.yaml"}, run.Complete)
				got, err := db.ScheduleCandidates(ctx)
				if err != nil || len(got) != 1 {
					t.Fatalf("before: %d candidates, %v", len(got), err)
				}
				claim, err := db.ClaimScheduleCheck(ctx, r.ID, nil, c.T)
				if err != nil {
					t.Fatal(err)
				}
				tt.change(t, db, *r.InstallationID)
				got, err = db.ScheduleCandidates(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 0 {
					t.Errorf("run %d is still a schedule candidate", got[0].Run.ID)
				}
				again := r.Rerun("linux-builder[schedule]")
				again.Trigger = run.TriggerSchedule
				if id, err := db.StartScheduledRebuild(ctx, r.ID, claim, again, fakeEnqueue(5, 0, nil), time.Hour); !errors.Is(err, ErrNotScheduled) {
					t.Errorf("the rebuild started anyway: run %d, %v", id, err)
				}
			})
		})
	}
}
