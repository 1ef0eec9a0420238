package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// needDocker fails (CI) or skips the test without the engine and the
// offline base image.
func needDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "image", "inspect", "debian:bookworm").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker with debian:bookworm is needed: %v", err)
		}
		t.Skipf("docker with debian:bookworm is needed: %v", err)
	}
}

// appEnv configures the GitHub App (a fresh key) against the fake.
func appEnv(t *testing.T, secret string, fake *githubtest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_APP_ID", "1")
	t.Setenv("GITHUB_PRIVATE_KEY", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	t.Setenv("GITHUB_WEBHOOK_SECRET", secret)
	t.Setenv("GITHUB_API_URL", fake.APIURL())
}

// deliver posts a signed webhook delivery.
func deliver(t *testing.T, base, event, id, secret string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", webhook.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startServe runs `bot serve` (SQLite in a temporary directory, image
// only) until the test ends and returns its base URL, data directory and
// log.
func startServe(t *testing.T) (string, string, *bytes.Buffer) {
	t.Helper()
	dir, addr := t.TempDir(), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	stderr := &bytes.Buffer{}
	go func() {
		exited <- runContext(ctx, []string{"serve", "--addr", addr, "--database-url", "", "--data-dir", dir, "--no-iso", "--log-format", "json", "--log-level", "warn"},
			strings.NewReader(""), io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			t.Error("serve did not stop")
		}
	})
	base := "http://" + addr
	for start := time.Now(); ; {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, dir, stderr
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("serve not ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// End to end through `bot serve`: a signed real push whose commit adds
// linux-build.yaml (examples/minimal-debian.yaml) is acknowledged, the spec
// is fetched from the fake GitHub at the pushed SHA, and the real pipeline
// (image only here; the ISO path has its own end-to-end test) completes
// the run.
func TestServePushToCompletedRun(t *testing.T) {
	needDocker(t)
	const sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	spec, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../testdata/github/webhooks/push/00-none.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	// The scenario's edits: the push adds the spec, on main, through an
	// installation of the app.
	commit := map[string]any{"id": sha, "added": []string{"linux-build.yaml"}, "modified": []string{}, "removed": []string{}}
	ev["ref"], ev["after"], ev["deleted"], ev["commits"], ev["head_commit"] = "refs/heads/main", sha, false, []any{commit}, commit
	ev["installation"] = map[string]any{"id": 7}
	body, _ := json.Marshal(ev)
	repo := ev["repository"].(map[string]any)["full_name"].(string)

	fake := githubtest.New(t)
	fake.SetFile(repo, sha, "linux-build.yaml", spec)
	const secret = "serve-test-secret"
	appEnv(t, secret, fake)

	base, dir, stderr := startServe(t)
	resp := deliver(t, base, "push", "e2e-push-1", secret, body)
	var ack struct {
		RunID int64 `json:"run_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != 202 || ack.RunID == 0 {
		t.Fatalf("push acknowledged with %d, run %d", resp.StatusCode, ack.RunID)
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(8 * time.Minute)
	for {
		r, err := db.Run(context.Background(), ack.RunID)
		if err == nil && r.Status.Terminal() {
			if r.Status != run.StatusSuccess || r.SpecSource != string(spec) || r.HeadSHA != sha {
				t.Fatalf("run ended %s: %q (spec fetched: %v)\n%s", r.Status, r.FailureReason, r.SpecSource == string(spec), stderr.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not finish: %+v %v\n%s", ack.RunID, r, err, stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if calls := strings.Join(fake.Calls(), "\n"); !strings.Contains(calls, fmt.Sprintf("GET /repos/%s/contents/linux-build.yaml", repo)) {
		t.Fatalf("the spec was not fetched from GitHub:\n%s", calls)
	}
	// GitHub shows it: the check run on the pushed commit ends neutral
	// (image only: --no-iso) with the release's links, and the release
	// holds the image, the resolved spec, the build log and SHA256SUMS.
	for deadline := time.Now().Add(time.Minute); ; {
		var cr *githubtest.CheckRun
		for _, c := range fake.CheckRuns() {
			if c.ExternalID == fmt.Sprint(ack.RunID) {
				cr = &c
			}
		}
		rels := fake.Releases()
		if cr != nil && cr.Conclusion == "neutral" && strings.Contains(cr.Summary, "releases/download/") && len(rels) == 1 {
			names := map[string]bool{}
			for _, a := range rels[0].Assets {
				names[a.Name] = a.State == "uploaded"
			}
			for _, n := range []string{"image.tar.zst", "spec.json", "build.log", "SHA256SUMS"} {
				if !names[n] {
					t.Fatalf("release assets %v lack %s", names, n)
				}
			}
			if cr.HeadSHA != sha || rels[0].Target != sha {
				t.Fatalf("check run on %s, release on %s", cr.HeadSHA, rels[0].Target)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GitHub does not show the run: check run %+v, releases %+v\n%s", cr, rels, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
