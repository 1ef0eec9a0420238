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
		if _, err := db.StartScheduledRebuild(ctx, latest.ID, claim, again, fakeEnqueue(5, 0, nil)); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("a rebuild on a lost claim: %v", err)
		}
		claim, err = db.ClaimScheduleCheck(ctx, latest.ID, got[0].Check, c.T)
		if err != nil {
			t.Fatal(err)
		}
		id, err := db.StartScheduledRebuild(ctx, latest.ID, claim, again, fakeEnqueue(5, 0, nil))
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
