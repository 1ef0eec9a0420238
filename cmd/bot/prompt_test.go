package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
)

// End to end through `bot serve` with a fake GitHub and a fake Ollama:
// "/build a minimal debian" on an issue → a reply with the generated spec
// → a real build at the default branch's head → the reply edited with the
// release's links, and 👀 then 🚀 on the command.
func TestServePromptBuild(t *testing.T) {
	needDocker(t)
	// The model answers with the minimal example (as JSON, fenced, after
	// a thought), so the build reuses the engine's layer cache.
	var example any
	src, _ := os.ReadFile("../../examples/minimal-debian.yaml")
	if err := yaml.Unmarshal(src, &example); err != nil {
		t.Fatal(err)
	}
	specJSON, _ := json.Marshal(example)
	ollama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			fmt.Fprint(w, `{"version":"0.6.2"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"done": true, "message": map[string]string{"role": "assistant",
			"content": "<think>A small Debian.</think>\n```json\n" + string(specJSON) + "\n```"}})
	}))
	defer ollama.Close()

	raw, err := os.ReadFile("../../testdata/github/webhooks/issue_comment/00-created.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	repoObj := ev["repository"].(map[string]any)
	repo := repoObj["full_name"].(string)
	repoObj["default_branch"] = "main"
	ev["installation"] = map[string]any{"id": 7}
	issue := ev["issue"].(map[string]any)
	delete(issue, "pull_request")
	cm := ev["comment"].(map[string]any)
	cm["body"] = "/build a minimal debian with ssh"
	cm["user"] = map[string]any{"login": "maintainer", "type": "User"}
	ev["sender"] = map[string]any{"login": "maintainer", "type": "User"}
	body, _ := json.Marshal(ev)
	const sha = "7000000000000000000000000000000000000007"

	fake := githubtest.New(t)
	fake.SetPermission(repo, "maintainer", "admin")
	fake.SetBranch(repo, "main", sha)
	const secret = "prompt-test-secret"
	appEnv(t, secret, fake)
	t.Setenv("OLLAMA_URL", ollama.URL)

	base, _, stderr := startServe(t)
	resp := deliver(t, base, "issue_comment", "e2e-prompt-1", secret, body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("comment acknowledged with %d", resp.StatusCode)
	}
	commentID := int64(cm["id"].(float64))
	for deadline := time.Now().Add(8 * time.Minute); ; {
		var reply *githubtest.Comment
		for _, c := range fake.Comments() {
			reply = &c
		}
		reacted := map[string]bool{}
		for _, r := range fake.Reactions() {
			if r.CommentID == commentID {
				reacted[r.Content] = true
			}
		}
		if reply != nil && strings.Contains(reply.Body, "releases/download/") && reacted["rocket"] {
			if !reacted["eyes"] || !strings.Contains(reply.Body, "openssh-server") || !strings.Contains(reply.Body, "<details>") || reply.Edits == 0 {
				t.Fatalf("reply %+v, reactions %v", reply, reacted)
			}
			t.Logf("the reply as users see it:\n%s", reply.Body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no release links in the reply: comments %+v, reactions %v, releases %+v\n%s", fake.Comments(), fake.Reactions(), fake.Releases(), stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	rels := fake.Releases()
	if len(rels) != 1 || rels[0].Target != sha {
		t.Fatalf("releases %+v", rels)
	}
}
