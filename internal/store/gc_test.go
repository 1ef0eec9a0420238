package store_test

import (
	"context"
	"sort"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// RELEASE_KEEP's groups and rank: a branch's releases rank by when their
// commit first came to the bot, so a retry of an old commit does not push
// out a later commit's release; a rerun of a generated spec stays with the
// generated specs (per issue); another spec path is its own group.
func TestReleasesBeyondGroupsAndRanks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		if err := db.UpsertInstallation(ctx, &Installation{ID: 9, Account: "o", Repositories: []string{"o/r"}}); err != nil {
			t.Fatal(err)
		}
		inst := int64(9)
		release := int64(100)
		record := func(rn *Run) int64 {
			if err := db.CreateRun(ctx, rn); err != nil {
				t.Fatal(err)
			}
			release++
			url := "https://github.com/o/r/releases/x"
			if err := db.RecordReport(ctx, rn.ID, ReportUpdate{ReleaseID: &release, ReleaseURL: &url}); err != nil {
				t.Fatal(err)
			}
			return rn.ID
		}
		sha := func(c byte) string {
			b := make([]byte, 40)
			for i := range b {
				b[i] = c
			}
			return string(b)
		}
		push := func(s, path string) *Run {
			return &Run{Trigger: run.TriggerPush, InstallationID: &inst, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: s, SpecPath: path}
		}
		issue := 5
		a := push(sha('a'), "linux-build.yaml")
		pushA := record(a)
		pushB := record(push(sha('b'), "linux-build.yaml"))
		pushC := record(push(sha('c'), "linux-build.yaml"))
		retryA := record(a.Rerun("someone")) // newest run, oldest commit
		other := record(push(sha('c'), "other/linux-build.yaml"))
		prompt := &Run{Trigger: run.TriggerComment, InstallationID: &inst, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: sha('c'),
			Number: &issue, SpecPath: "linux-build.yaml", Prompt: "a router"}
		p1 := record(prompt)
		p1again := record(prompt.Rerun("someone"))
		got, err := db.ReleasesBeyond(ctx, 2, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range got {
			ids = append(ids, r.RunID)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		// main's linux-build.yaml: C, B newest by commit; the retry of A
		// and A go. The other spec path and the issue's two stay.
		want := []int64{pushA, retryA}
		if len(ids) != len(want) || ids[0] != want[0] || ids[1] != want[1] {
			t.Fatalf("beyond 2: runs %v, want %v (B=%d C=%d other=%d prompt=%d, its rerun=%d)", ids, want, pushB, pushC, other, p1, p1again)
		}
		got, err = db.ReleasesBeyond(ctx, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, r := range got {
			ids = append(ids, r.RunID)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		want = []int64{pushA, pushB, retryA, p1}
		if len(ids) != len(want) {
			t.Fatalf("beyond 1: runs %v, want %v", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("beyond 1: runs %v, want %v", ids, want)
			}
		}
	})
}
