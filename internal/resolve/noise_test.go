package resolve

import (
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// waitReactions waits until n reactions with content were added.
func (s *stack) waitReactions(content string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		for _, r := range s.gh.Reactions() {
			if r.Content == content {
				got++
			}
		}
		if got >= n || time.Now().After(deadline) {
			if got != n {
				s.t.Fatalf("%d %q reactions, want %d: %+v", got, content, n, s.gh.Reactions())
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An outsider gets at most one refusal comment per pull request an hour;
// further refused commands get a 👎 reaction.
func TestOutsiderRefusalsAreRateLimited(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"build", "/build"},
		{"help", "/build help"},
		{"approve", "/build approve " + shaA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, storetest.SQLite(t, nil))
			s.gh.SetPermission(testRepo, outsider, "read")
			s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: "forker/Hello-World", Author: outsider})
			for i := range 4 {
				s.send("issue_comment", "00-created.json", func(m map[string]any) {
					comment(tc.body, outsider, true)(m)
					m["comment"].(map[string]any)["id"] = 1000 + i // a reaction per comment
				})
			}
			s.waitReactions("-1", 3)
			if c := s.waitComments(1); c[0].Number != 7 {
				t.Fatalf("refusal %+v", c[0])
			}
			// Another pull request has its own allowance.
			s.send("issue_comment", "00-created.json", func(m map[string]any) {
				comment(tc.body, outsider, true)(m)
				m["issue"].(map[string]any)["number"] = 8
			})
			if c := s.waitComments(2); c[1].Number != 8 {
				t.Fatalf("refusal on #8 %+v", c[1])
			}
			if len(s.runs()) != 0 {
				t.Fatalf("outsider built: %+v", s.runs())
			}
		})
	}
}

// Commands over the quota are refused, once with a comment, then with a
// reaction; the commands within it run.
func TestCommandQuota(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	s.events.CommandQuota = &store.Quota{User: store.Limit{PerHour: 2}}
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: testRepo, Author: maintainer})
	var outcomes []store.Outcome
	for i := range 4 {
		outcomes = append(outcomes, s.send("issue_comment", "00-created.json", func(m map[string]any) {
			comment("/build cancel", maintainer, true)(m)
			m["comment"].(map[string]any)["id"] = 2000 + i
		}).Outcome)
	}
	want := []store.Outcome{store.OutcomeIgnored, store.OutcomeIgnored, store.OutcomeRejected, store.OutcomeRejected}
	for i := range want {
		if outcomes[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", outcomes, want)
		}
	}
	c := s.waitComments(3)
	if !strings.Contains(c[2].Body, "too many `/build` commands") || !strings.Contains(c[2].Body, "try again in") {
		t.Fatalf("quota refusal %q", c[2].Body)
	}
	s.waitReactions("-1", 1)
	// Another user has their own bucket.
	s.gh.SetPermission(testRepo, "other", "write")
	if d := s.send("issue_comment", "00-created.json", comment("/build cancel", "other", true)); d.Outcome != store.OutcomeIgnored {
		t.Fatalf("another user's command: %+v", d)
	}
}
