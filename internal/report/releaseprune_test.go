package report

import (
	"context"
	"net/http"
	"testing"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// RELEASE_KEEP=2 against the fake GitHub (every request checked against
// GitHub's OpenAPI description) on both databases: per branch, the bot's
// releases beyond the newest two go, oldest first and a batch per pass; a
// person's release — even one a run's row points at — stays; a failure is
// tried again on the next pass; a dry run deletes nothing.
func TestReleasePrunerKeepsTheNewestPerBranch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		r, fake, _ := newReleases(t)
		r.Store = db
		app := r.GitHub.(ReleasePruneGitHub)
		files := map[string][]byte{"linux.iso": []byte("iso bytes"), "spec.json": []byte(`{"base":"debian"}`)}
		publish := func(ref string) *store.Run {
			t.Helper()
			rn := successfulRun(t, db, legacyDir(r), files, run.TriggerPush)
			if _, err := db.Bun.NewRaw(`UPDATE runs SET ref = ? WHERE id = ?`, ref, rn.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Publish(ctx, rn.ID); err != nil {
				t.Fatal(err)
			}
			return rn
		}
		// A person's release in the same repository, and the oldest run's
		// row pointing at it (the row's release was replaced by hand).
		human, err := r.GitHub.CreateRelease(ctx, 7, "octo/repo", &gh.RepositoryRelease{TagName: gh.Ptr("v1.0"), Name: gh.Ptr("Our 1.0")})
		if err != nil {
			t.Fatal(err)
		}
		pointing := successfulRun(t, db, legacyDir(r), files, run.TriggerPush)
		if _, err := db.Bun.NewRaw(`UPDATE runs SET release_id = ? WHERE id = ?`, human.GetID(), pointing.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		var main []*store.Run
		for range 4 {
			main = append(main, publish("refs/heads/main"))
		}
		dev := publish("refs/heads/dev")
		if n := len(fake.Releases()); n != 6 {
			t.Fatalf("%d releases before pruning", n)
		}
		clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		p := &ReleasePruner{GitHub: app, Store: db, Keep: 2, Batch: 1, Now: func() time.Time { return clock }}

		wide := &ReleasePruner{GitHub: app, Store: db, Keep: 2, Batch: 10}
		dry, err := wide.Prune(ctx, true)
		if err != nil || dry.Releases != 2 || dry.Skipped != 1 || len(fake.Releases()) != 6 {
			t.Fatalf("dry run: %+v %v, %d releases left", dry, err, len(fake.Releases()))
		}
		// A delete fails (every retry of it): the release waits, the
		// others go on the next passes, and it is tried again hours later.
		fake.Inject(&githubtest.Fault{Method: http.MethodDelete, Path: "/repos/{owner}/{repo}/releases/{release_id}", Status: http.StatusBadGateway, Times: 4})
		var total ReleasePruneResult
		failures := 0
		var deferredLeft int
		for pass := 0; pass < 6; pass++ {
			res, err := p.Prune(ctx, false)
			if err != nil {
				failures++
			}
			if pass == 2 {
				// The others are done; the failed one waits.
				deferredLeft = len(fake.Releases())
				clock = clock.Add(7 * time.Hour)
			}
			total.Releases += res.Releases
			total.Bytes += res.Bytes
			total.Skipped += res.Skipped
			total.Failed += res.Failed
		}
		if deferredLeft != 5 {
			t.Errorf("%d releases left before the failed one's retry, want 5 (the others handled meanwhile)", deferredLeft)
		}
		if failures != 1 || total.Failed != 1 {
			t.Errorf("%d failing passes, %d failed deletes; want the injected one", failures, total.Failed)
		}
		if total.Releases != 2 || total.Skipped != 1 || total.Bytes == 0 {
			t.Errorf("pruned %+v; want main's two oldest releases deleted and the person's skipped", total)
		}
		tags := map[string]bool{}
		for _, rel := range fake.Releases() {
			tags[rel.Tag] = true
		}
		for _, rn := range main[:2] {
			if tags[Tag(rn)] {
				t.Errorf("the older release %s survived", Tag(rn))
			}
		}
		for _, rn := range append(main[2:], dev) {
			if !tags[Tag(rn)] {
				t.Errorf("the release %s, among its branch's newest two, was deleted", Tag(rn))
			}
		}
		if !tags["v1.0"] {
			t.Error("the person's release was deleted")
		}
		got, err := db.Run(ctx, main[0].ID)
		if err != nil || got.ReleaseURL != "" {
			t.Errorf("the pruned run still links its release: %q %v", got.ReleaseURL, err)
		}
		// Nothing left to do.
		if res, err := p.Prune(ctx, false); err != nil || res != (ReleasePruneResult{}) {
			t.Errorf("a further pass: %+v %v", res, err)
		}
	})
}
