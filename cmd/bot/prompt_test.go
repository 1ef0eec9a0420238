package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// End to end through `bot serve` with a fake GitHub and a fake Ollama:
// "/build a minimal debian" on an issue → a reply with the generated spec
// → a real build at the default branch's head → the reply edited with the
// release's links, and 👀 then 🚀 on the command.
func TestServePromptBuild(t *testing.T) {
	if err := exec.Command("docker", "image", "inspect", "debian:bookworm").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker with debian:bookworm is needed: %v", err)
		}
		t.Skipf("docker with debian:bookworm is needed: %v", err)
	}
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
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	const secret = "prompt-test-secret"
	t.Setenv("GITHUB_APP_ID", "1")
	t.Setenv("GITHUB_PRIVATE_KEY", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	t.Setenv("GITHUB_WEBHOOK_SECRET", secret)
	t.Setenv("GITHUB_API_URL", fake.APIURL())
	t.Setenv("OLLAMA_URL", ollama.URL)

	base, _, stderr := startServe(t)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("X-GitHub-Delivery", "e2e-prompt-1")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
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
