package store_test

import (
	"context"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// TestAttackPromptBuildsPushOutTheBranchsReleases (review finding,
// FAILS as reviewed): "/build <description>" on an issue builds a
// generated spec (linux-build.yaml from the model, not the repository's
// spec) at the default branch's head with Ref refs/heads/main, and its
// release lands in the same (installation, repo, ref) partition as the
// pushes' releases of main. With RELEASE_KEEP=2, two prompt experiments
// in issues make the pruner delete the releases of the repository's real
// spec on main. Releases of another spec (path or source) or of another
// trigger kind must not count against a branch's builds.
func TestAttackPromptBuildsPushOutTheBranchsReleases(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		if err := db.UpsertInstallation(ctx, &Installation{ID: 9, Account: "o", Repositories: []string{"o/r"}}); err != nil {
			t.Fatal(err)
		}
		inst := int64(9)
		mk := func(tr run.Trigger, specPath, prompt string, release int64) int64 {
			rn := &Run{Trigger: tr, InstallationID: &inst, Repo: "o/r", Ref: "refs/heads/main",
				HeadSHA: "0123456789abcdef0123456789abcdef01234567", SpecPath: specPath, Prompt: prompt}
			if err := db.CreateRun(ctx, rn); err != nil {
				t.Fatal(err)
			}
			url := "https://github.com/o/r/releases/x"
			if err := db.RecordReport(ctx, rn.ID, ReportUpdate{ReleaseID: &release, ReleaseURL: &url}); err != nil {
				t.Fatal(err)
			}
			return rn.ID
		}
		pushA := mk(run.TriggerPush, "linux-build.yaml", "", 101)
		pushB := mk(run.TriggerPush, "linux-build.yaml", "", 102)
		mk(run.TriggerComment, "linux-build.yaml", "a tiny alpine router", 201)
		mk(run.TriggerComment, "linux-build.yaml", "gnome desktop for my mum", 202)
		got, err := db.ReleasesBeyond(ctx, 2, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.RunID == pushA || r.RunID == pushB {
				t.Fatalf("ATTACK: with RELEASE_KEEP=2 the branch's two push releases are pruned because two /build <description> runs on issues share refs/heads/main: %+v", got)
			}
		}
	})
}
