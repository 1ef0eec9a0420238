package resolve

import (
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// An approval names the commit the maintainer reviewed: when the fork's
// head moves between the comment and the job that decides it, the new
// head is not built, and the refusal names the new head to review.
func TestApproveIsBoundToTheReviewedCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		s := newStack(t, db)
		fork := "forker/Hello-World"
		spec := []githubtest.File{{Name: "linux-build.yaml", Status: "added"}}
		s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: fork, Author: outsider, Files: spec})
		s.send("pull_request", "00-opened.json", pullRequest("opened", shaA, fork, outsider))
		// The bot's request names the exact command to copy.
		if c := s.waitComments(1); !strings.Contains(c[0].Body, "`/build approve "+shaA+"`") {
			t.Fatalf("approval request without the SHA to approve: %q", c[0].Body)
		}
		// The maintainer reviewed A; the fork pushes B before the job runs.
		s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaB, HeadRepo: fork, Author: outsider, Files: spec})
		d := s.send("issue_comment", "00-created.json", comment("/build approve "+shaA[:7], maintainer, true))
		if d.Outcome == store.OutcomeQueued || d.RunID != nil || len(s.runs()) != 0 {
			t.Fatalf("approval of A built the new head: %+v, runs %+v", d, s.runs())
		}
		if _, ok, _ := db.Approved(t.Context(), testRepo, 7, shaB); ok {
			t.Fatal("B recorded as approved")
		}
		if c := s.waitComments(2); !strings.Contains(c[1].Body, "`/build approve "+shaB+"`") {
			t.Fatalf("refusal does not name the new head: %q", c[1].Body)
		}
		// Approving B by its SHA builds B.
		d = s.send("issue_comment", "00-created.json", comment("/build approve "+strings.ToUpper(shaB[:12]), maintainer, true))
		if runs := s.runs(); d.Outcome != store.OutcomeQueued || len(runs) != 1 || runs[0].HeadSHA != shaB {
			t.Fatalf("approval of B: %+v, runs %+v", d, runs)
		}
	})
}

// A bare "/build approve" (or a plain "/build" on a fork's pull request,
// which used to approve the head too) approves nothing: the reply names
// the head to approve.
func TestApproveWithoutTheCommitIsRefused(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"bare approve", "/build approve"},
		{"approve with words", "/build approve now"},
		{"approve with a short prefix", "/build approve aaaaaa"},
		{"approve with a non-hex word", "/build approve aaaaaaaz"},
		{"plain build on a fork", "/build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, storetest.SQLite(t, nil))
			s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: "forker/Hello-World", Author: outsider,
				Files: []githubtest.File{{Name: "linux-build.yaml", Status: "added"}}})
			d := s.send("issue_comment", "00-created.json", comment(tc.body, maintainer, true))
			if d.Outcome == store.OutcomeQueued || d.RunID != nil || len(s.runs()) != 0 {
				t.Fatalf("%q built: %+v", tc.body, d)
			}
			if _, ok, _ := s.db.Approved(t.Context(), testRepo, 7, shaA); ok {
				t.Fatalf("%q recorded an approval", tc.body)
			}
			if c := s.waitComments(1); !strings.Contains(c[0].Body, "`/build approve "+shaA+"`") {
				t.Fatalf("refusal does not name the head: %q", c[0].Body)
			}
		})
	}
}
