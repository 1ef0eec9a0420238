package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

const metricsToken = "test-metrics-token-0123456789"

// runUntilEnd runs the bot with args until the test ends (cancelled then) and
// returns its stderr; ready is polled until it answers 200.
func runUntilEnd(t *testing.T, ready string, args ...string) *bytes.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	stderr := &bytes.Buffer{}
	go func() { exited <- runContext(ctx, args, strings.NewReader(""), io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("bot exited %d: %s", code, stderr.String())
			}
		case <-time.After(time.Minute):
			t.Error("the bot did not stop")
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode < 500 {
				return stderr
			}
		}
		if i > 300 {
			t.Fatalf("%s not answering: %v\n%s", ready, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape GETs url with the bearer token (none when empty).
func scrape(t *testing.T, url, token string) (int, metricstest.Scrape) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, metricstest.Parse(t, resp.Header.Get("Content-Type"), resp.Body)
}

// `bot serve` with METRICS_TOKEN serves /metrics on its main port behind
// the token; a delivery shows in them, and so do the database's gauges.
func TestServeMetricsOnTheMainPort(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "5")
	t.Setenv("GITHUB_PRIVATE_KEY", testKey(t))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("METRICS_TOKEN", metricsToken)
	t.Setenv("METRICS_ADDR", "")
	addr := freeAddr(t)
	runUntilEnd(t, "http://"+addr+"/readyz", "serve", "--workers", "0", "--addr", addr, "--database-url", "", "--data-dir", t.TempDir(), "--log-level", "error")
	url := "http://" + addr + "/metrics"
	for _, tok := range []string{"", "wrong-token-wrong-token"} {
		if code, _ := scrape(t, url, tok); code != http.StatusUnauthorized {
			t.Fatalf("token %q: %d, want 401", tok, code)
		}
	}
	body := []byte(`{"zen":"hi"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "star")
	req.Header.Set("X-GitHub-Delivery", "m-1")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign("s3cret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("delivery: %d", resp.StatusCode)
	}
	code, s := scrape(t, url, metricsToken)
	if code != 200 {
		t.Fatalf("with the token: %d", code)
	}
	if got := s.Must(t, "linux_builder_webhook_deliveries_total", "event=other", "outcome=ignored"); got != 1 {
		t.Fatalf("deliveries %v, want 1", got)
	}
	if got := s.Must(t, "linux_builder_webhook_intake_seconds"); got != 1 {
		t.Fatalf("latencies %v, want 1", got)
	}
	if got := s.Must(t, "linux_builder_runs_active", "status="+string(run.StatusPending), "step="+string(run.Pending)); got != 0 {
		t.Fatalf("pending runs %v", got)
	}
	if got := s.Must(t, "linux_builder_queue_jobs", "queue=default", "state=available"); got != 0 {
		t.Fatalf("available builds %v", got)
	}
	for _, q := range []string{"runs", "queue"} {
		if got := s.Must(t, "linux_builder_metrics_query_success", "query="+q); got != 1 {
			t.Fatalf("query %s on SQLite failed", q)
		}
	}
}

// `bot worker` has no main port: METRICS_ADDR is its listener, with the
// database's gauges.
func TestWorkerMetricsOnTheirOwnAddress(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "")
	t.Setenv("METRICS_TOKEN", "")
	maddr := freeAddr(t)
	stderr := runUntilEnd(t, "http://"+maddr+"/metrics", "worker", "--workers", "0", "--database-url", "", "--data-dir", t.TempDir(), "--metrics-addr", maddr, "--migrate")
	code, s := scrape(t, "http://"+maddr+"/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, stderr.String())
	}
	if got := s.Must(t, "linux_builder_metrics_query_success", "query=queue"); got != 1 {
		t.Fatalf("queue query: %v\n%s", got, stderr.String())
	}
	if _, ok := s["process_resident_memory_bytes"]; !ok {
		t.Fatal("no process metrics")
	}
}

// A weak METRICS_TOKEN is a usage error (exit 2), before anything starts.
func TestServeRefusesAWeakMetricsToken(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "5")
	t.Setenv("GITHUB_PRIVATE_KEY", testKey(t))
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("METRICS_TOKEN", "short")
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := runContext(ctx, []string{"serve", "--workers", "0", "--addr", freeAddr(t), "--database-url", "", "--data-dir", t.TempDir()},
		strings.NewReader(""), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "METRICS_TOKEN") || strings.Contains(stderr.String(), "short") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
