package resolve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// countingModel is an Ollama that counts its chats and answers each with
// a valid spec (so a prompt build, if one is started, is queued).
func countingModel(t *testing.T, calls *atomic.Int64) *ai.Generator {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			fmt.Fprint(w, `{"version":"0.6.2"}`)
			return
		}
		calls.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": map[string]string{"role": "assistant",
			"content": `{"name":"box","base":"debian"}`}, "done": true})
	}))
	t.Cleanup(srv.Close)
	g, err := ai.NewGenerator(&ai.Client{URL: srv.URL, Timeout: 5 * time.Second}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// A mistyped command is not a description: "/build aprove", "/build
// status", "/build --help" and their like are answered in a reply (the
// help, and the command meant when one is near) and start no build and no
// model call. The old parser took each for a plain-English prompt, asked
// the model and queued a prompt build. The payloads are GitHub's recorded
// issue_comment deliveries with the comment's body replaced.
func TestMistypedCommandsBuildNothing(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	var calls atomic.Int64
	s.events.Prompter = &PromptBuilds{GitHub: s.appC, Generator: countingModel(t, &calls)}
	s.gh.SetBranch(testRepo, "main", shaA)
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: testRepo, Author: maintainer})
	for i, tc := range []struct {
		body string
		pr   bool
		// want are in the reply; outcome is the delivery's.
		want    []string
		outcome store.Outcome
	}{
		{"/build aprove", true, []string{"`/build aprove` is not a command", "Did you mean `/build approve`", "Linux Builder commands"}, store.OutcomeRejected},
		{"/build aprove " + shaA[:7], true, []string{"Did you mean `/build approve`"}, store.OutcomeRejected},
		{"/build status", false, []string{"`/build status` is not a command", "a few words", "Linux Builder commands"}, store.OutcomeRejected},
		{"/build --help", false, []string{"Linux Builder commands"}, store.OutcomeIgnored},
		{"/build -h", true, []string{"Linux Builder commands"}, store.OutcomeIgnored},
		{"/build --verbose a minimal debian", false, []string{"`/build --verbose` is not a command", "Linux Builder commands"}, store.OutcomeRejected},
		{"/build -pr a minimal debian", false, []string{"Did you mean `/build --pr`"}, store.OutcomeRejected},
		{"/build retyr", true, []string{"Did you mean `/build retry`"}, store.OutcomeRejected},
		{"/build debian", false, []string{"`/build debian` is not a command", "a few words"}, store.OutcomeRejected},
	} {
		// GitHub's recorded comments, 00 to 04, in turn.
		d := s.send("issue_comment", fmt.Sprintf("%02d-created.json", i%5), func(m map[string]any) {
			comment(tc.body, maintainer, tc.pr)(m)
			m["repository"].(map[string]any)["default_branch"] = "main"
		})
		if d.Outcome != tc.outcome || d.RunID != nil {
			t.Errorf("%q: delivery %s %q (run %v), want %s and no run", tc.body, d.Outcome, d.Reason, d.RunID, tc.outcome)
		}
		c := s.waitComments(i + 1)[i]
		for _, w := range tc.want {
			if !strings.Contains(c.Body, w) {
				t.Errorf("%q: reply %q, want it to contain %q", tc.body, c.Body, w)
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the model was asked %d times", n)
	}
	if runs := s.runs(); len(runs) != 0 {
		t.Errorf("runs %+v", runs)
	}
}
