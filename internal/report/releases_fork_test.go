package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// prRun makes a successful run of pull request number (0: a push) with an
// ISO in its directory.
func prRun(t *testing.T, r *Releases, db *store.DB, number int, trigger run.Trigger) *store.Run {
	t.Helper()
	ctx := context.Background()
	inst := int64(7)
	rn := &store.Run{Trigger: trigger, InstallationID: &inst, Repo: "octo/repo", Ref: "refs/heads/main", HeadSHA: checkSHA,
		SpecPath: "linux-build.yaml", Base: "debian", RequestedBy: "maintainer"}
	if number != 0 {
		rn.Number, rn.Ref = &number, fmt.Sprintf("refs/pull/%d/head", number)
	}
	if err := db.CreateRun(ctx, rn); err != nil {
		t.Fatal(err)
	}
	dir := runDir(r, rn.ID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	iso := []byte("attacker-built iso")
	sum := sha256.Sum256(iso)
	if err := os.WriteFile(filepath.Join(dir, "linux.iso"), iso, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "linux.iso", Type: run.ArtifactISO, Location: filepath.Join(dir, "linux.iso"),
		Size: int64(len(iso)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	writeRunFiles(t, db, rn.ID, dir)
	if err := db.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
	return rn
}

// A pull request from a fork never makes a public release on the base
// repository (binaries built from an outsider's spec under its name): it
// is a draft, seen only by people with push access, and the check run
// says where the files are. Publishing again keeps the one draft.
// Builds of the repository's own branches are public as before.
func TestForkPullRequestsGetADraftRelease(t *testing.T) {
	tests := []struct {
		name      string
		number    int
		headRepo  string // "" with number: a deleted fork
		noPR      bool   // GitHub does not know the pull request
		trigger   run.Trigger
		wantDraft bool
		wantPre   bool
	}{
		{name: "push", trigger: run.TriggerPush},
		{name: "same-repository pull request", number: 12, headRepo: "octo/repo", trigger: run.TriggerPullRequest, wantPre: true},
		{name: "same repository, other case", number: 12, headRepo: "Octo/Repo", trigger: run.TriggerPullRequest, wantPre: true},
		{name: "fork pull request", number: 12, headRepo: "mallory/repo", trigger: run.TriggerPullRequest, wantDraft: true, wantPre: true},
		{name: "fork, /build by a maintainer", number: 12, headRepo: "mallory/repo", trigger: run.TriggerComment, wantDraft: true, wantPre: true},
		{name: "fork, rerun", number: 12, headRepo: "mallory/repo", trigger: run.TriggerRerun, wantDraft: true, wantPre: true},
		{name: "deleted fork", number: 12, headRepo: "", trigger: run.TriggerPullRequest, wantDraft: true, wantPre: true},
		{name: "unknown pull request", number: 13, noPR: true, trigger: run.TriggerPullRequest, wantDraft: true, wantPre: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, fake, db := newReleases(t)
			ctx := context.Background()
			if tc.number != 0 && !tc.noPR {
				fake.SetPullRequest(githubtest.PullRequest{Repo: "octo/repo", Number: tc.number, HeadSHA: checkSHA, HeadRepo: tc.headRepo, Author: "mallory"})
			}
			run := prRun(t, r, db, tc.number, tc.trigger)
			for range 2 { // a retried job keeps the one release
				if err := r.Publish(ctx, run.ID); err != nil {
					t.Fatal(err)
				}
			}
			rels := fake.Releases()
			if len(rels) != 1 {
				t.Fatalf("%d releases, want 1", len(rels))
			}
			rel := rels[0]
			if rel.Draft != tc.wantDraft || rel.Prerelease != tc.wantPre {
				t.Fatalf("draft %v prerelease %v, want %v %v", rel.Draft, rel.Prerelease, tc.wantDraft, tc.wantPre)
			}
			if len(rel.Assets) != 3 { // linux.iso, build.log, SHA256SUMS
				t.Fatalf("assets %+v", rel.Assets)
			}
			if tc.wantDraft && !strings.Contains(rel.Body, "fork") {
				t.Fatalf("the draft's notes do not say why it is a draft:\n%s", rel.Body)
			}
			// The check run and the status comment say where the files are.
			after, err := db.Run(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Report(ctx, db, after, "")
			if err != nil {
				t.Fatal(err)
			}
			summary, err := r.Reports.Summary(rep)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(summary, "draft release") != tc.wantDraft || !strings.Contains(summary, after.ReleaseURL) {
				t.Fatalf("summary (draft %v, release %s):\n%s", tc.wantDraft, after.ReleaseURL, summary)
			}
			comment, err := r.Reports.Comment(rep)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(comment, "draft release") != tc.wantDraft || !strings.Contains(comment, after.ReleaseURL) {
				t.Fatalf("status comment (draft %v):\n%s", tc.wantDraft, comment)
			}
		})
	}
}
