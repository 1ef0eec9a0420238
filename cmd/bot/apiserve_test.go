package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
