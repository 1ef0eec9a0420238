package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/webhook"
)

// `bot serve --workers 0` (no engine needed) takes the receiver's
// settings from flags over the environment, as the lean receiver does:
// the path and app id here, with a \n-escaped key.
func TestServeIntakeOnlyWithFlags(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "")
	t.Setenv("GITHUB_PRIVATE_KEY", strings.ReplaceAll(strings.TrimSpace(testKey(t)), "\n", `\n`))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("WEBHOOK_PATH", "/elsewhere")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exited <- runContext(ctx, []string{"serve", "--workers", "0", "--addr", addr, "--database-url", "", "--data-dir", t.TempDir(),
			"--app-id", "5", "--path", "/hooks", "--log-level", "error"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatalf("serve not ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := []byte(`{"zen":"hi"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "star")
	req.Header.Set("X-GitHub-Delivery", "s-1")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign("s3cret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("delivery on --path: %d", resp.StatusCode)
	}
}

// `bot serve --migrate=false` on a database nobody migrated starts but is
// not ready, and /readyz says why.
func TestServeNotReadyUnmigrated(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "5")
	t.Setenv("GITHUB_PRIVATE_KEY", testKey(t))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exited <- runContext(ctx, []string{"serve", "--workers", "0", "--migrate=false", "--addr", addr, "--database-url", "",
			"--data-dir", t.TempDir(), "--log-level", "error"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(b), "never migrated") {
				t.Fatalf("readyz on an unmigrated database: %d %q", resp.StatusCode, b)
			}
			return
		}
		if i > 300 {
			t.Fatalf("serve not listening: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
