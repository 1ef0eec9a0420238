package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/live"
)

// TestServeServesTheAPI: bot serve answers /webhook, /api/v1 and the seed's
// routes on one address, behind API tokens.
func TestServeServesTheAPI(t *testing.T) {
	t.Setenv("GITHUB_PRIVATE_KEY", strings.ReplaceAll(strings.TrimSpace(testKey(t)), "\n", `\n`))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("API_RATE", "100/s burst 100")
	addr, dir := freeAddr(t), t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exited <- runContext(ctx, []string{"serve", "--workers", "0", "--addr", addr, "--database-url", "", "--data-dir", dir,
			"--app-id", "5", "--log-level", "error"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := 0; ; i++ {
		if code, _ := get("/health", ""); code == 200 {
			break
		}
		if i > 300 {
			t.Fatalf("serve not healthy:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/api/v1/openapi.json", ""); code != 200 || !strings.Contains(body, `"openapi":"3.1`) {
		t.Fatalf("openapi.json: %d %.200s", code, body)
	}
	if code, _ := get("/api/v1/builds", ""); code != 401 {
		t.Fatalf("builds without a token: %d", code)
	}
	code, out, errOut := runBot(t, "", "token", "create", "--name", "ci", "--scope", "read", "--database-url", "", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("token create: %s", errOut)
	}
	if code, body := get("/api/v1/builds", strings.TrimSpace(out)); code != 200 || !strings.Contains(body, `"builds":[]`) {
		t.Fatalf("builds with a token: %d %s", code, body)
	}
	if code, _ := get("/webhook", ""); code != 405 && code != 404 {
		t.Fatalf("GET /webhook: %d", code)
	}
}

// Every SSE stream holds one of the server's connections for its life:
// the hub holds at most half of them, so callers filling the hub (many
// addresses, each within its own cap) still leave GitHub's deliveries and
// the pages connections to use.
func TestLiveStreamsLeaveConnectionsForEverythingElse(t *testing.T) {
	for _, tc := range []struct{ conns, want int }{
		{conns: 4096, want: 2048}, {conns: 100, want: 50}, {conns: 1, want: 1},
		{conns: 1 << 20, want: live.DefaultMaxSubscribers}, {conns: 0, want: live.DefaultMaxSubscribers},
	} {
		if got := liveCap(tc.conns); got != tc.want || (tc.conns > 1 && got >= tc.conns) {
			t.Errorf("liveCap(%d) = %d, want %d (below the connections)", tc.conns, got, tc.want)
		}
	}
}
