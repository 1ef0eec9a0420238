package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

func TestReceiverRecordsAndQueues(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	// A migrated schema of its own on the test server; MIGRATE=true
	// checks that migrating again at start is harmless.
	db := storetest.Postgres(t, nil)
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("GITHUB_APP_ID", "9")
	t.Setenv("DATABASE_URL", db.ConnURL())
	t.Setenv("MIGRATE", "true")
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", port)
	t.Setenv("METRICS_TOKEN", metricsToken)
	t.Setenv("METRICS_ADDR", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, io.Discard) }()
	base := "http://127.0.0.1:" + port
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("receiver not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, err := os.ReadFile("../../testdata/github/webhooks/push/00-none.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(raw, &ev)
	sha := "1111111111111111111111111111111111111111"
	commit := map[string]any{"id": sha, "added": []string{"linux-build.yaml"}, "modified": []string{}, "removed": []string{}}
	ev["ref"], ev["after"], ev["deleted"], ev["commits"], ev["head_commit"] = "refs/heads/main", sha, false, []any{commit}, commit
	body, _ := json.Marshal(ev)
	send := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d-1")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(webhook.Sign("wrong", body)); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	if code := send(webhook.Sign("s3cret", body)); code != 202 {
		t.Fatalf("signed push: %d", code)
	}
	if code := send(webhook.Sign("s3cret", body)); code != 200 {
		t.Fatalf("redelivery: %d", code)
	}
	checkMetrics(t, base)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	d, err := db.Delivery(context.Background(), 9, "d-1")
	if err != nil || d.RunID == nil || d.Outcome != store.OutcomeQueued {
		t.Fatalf("delivery %+v %v", d, err)
	}
	var jobs int
	if err := db.SQL.QueryRow("SELECT count(*) FROM river_job WHERE kind = 'build'").Scan(&jobs); err != nil || jobs != 1 {
		t.Fatalf("%d build jobs (%v)", jobs, err)
	}
}

const metricsToken = "receiver-metrics-token-0123"

// checkMetrics scrapes the receiver's /metrics (on its port, behind
// METRICS_TOKEN) after TestReceiverRecordsAndQueues's three deliveries.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tok := range []string{"", "not-the-token-not-the-token"} {
		resp := get(tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/metrics with token %q: %d", tok, resp.StatusCode)
		}
	}
	resp := get(metricsToken)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	s := metricstest.Parse(t, resp.Header.Get("Content-Type"), resp.Body)
	for outcome, want := range map[string]float64{"unauthorized": 1, "queued": 1, "duplicate": 1, "replay": 0} {
		if got := s.Must(t, "linux_builder_webhook_deliveries_total", "event=push", "outcome="+outcome); got != want {
			t.Errorf("push deliveries %s: %v, want %v", outcome, got, want)
		}
	}
	if got := s.Must(t, "linux_builder_webhook_intake_seconds"); got != 2 {
		t.Errorf("%v latencies, want 2 (the acknowledged deliveries)", got)
	}
	// The receiver has no database gauges: those are the workers'.
	if _, ok := s["linux_builder_runs_active"]; ok {
		t.Error("the receiver exports the database's gauges")
	}
}

// The receiver refuses to start, with an error naming what is missing,
// without a secret, the app's id or a database.
func TestReceiverRefusesToStart(t *testing.T) {
	ok := map[string]string{"GITHUB_WEBHOOK_SECRET": "x", "GITHUB_APP_ID": "9", "DATABASE_URL": "", "INTAKE_BATCH": "", "METRICS_TOKEN": "", "METRICS_ADDR": ""}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "no secret", env: map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, want: "GITHUB_WEBHOOK_SECRET is required"},
		{name: "no app id", env: map[string]string{"GITHUB_APP_ID": ""}, want: "GITHUB_APP_ID is required"},
		{name: "app id zero", env: map[string]string{"GITHUB_APP_ID": "0"}, want: "GITHUB_APP_ID is required"},
		{name: "app id not a number", env: map[string]string{"GITHUB_APP_ID": "my-app"}, want: "GITHUB_APP_ID"},
		// The receiver links no SQLite: it needs PostgreSQL.
		{name: "no database", env: map[string]string{}, want: "DATABASE_URL"},
		{name: "bad batch", env: map[string]string{"INTAKE_BATCH": "many"}, want: "INTAKE_BATCH"},
		{name: "bad replay window", env: map[string]string{"WEBHOOK_REPLAY_WINDOW": "a day"}, want: "WEBHOOK_REPLAY_WINDOW"},
		{name: "weak metrics token", env: map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "METRICS_TOKEN": "abc"}, want: "METRICS_TOKEN"},
		{name: "bad metrics address", env: map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x", "METRICS_ADDR": "nowhere"}, want: "METRICS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range ok {
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if err := run(context.Background(), nil, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("started or failed otherwise: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// The lean receiver on a database nobody migrated (MIGRATE unset) is not
// ready, and says why.
func TestReceiverNotReadyUnmigrated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	db := storetest.PostgresUnmigrated(t)
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("GITHUB_APP_ID", "9")
	t.Setenv("DATABASE_URL", db.ConnURL())
	t.Setenv("MIGRATE", "")
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	for i := 0; ; i++ {
		resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(b), "never migrated") {
				t.Fatalf("readyz on an unmigrated database: %d %q", resp.StatusCode, b)
			}
			return
		}
		if i > 100 {
			t.Fatalf("receiver not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --version prints the build (a test binary: "(devel)", "unknown") and
// starts nothing: no secret or database is needed.
func TestReceiverVersion(t *testing.T) {
	t.Setenv("GITHUB_WEBHOOK_SECRET", "")
	t.Setenv("DATABASE_URL", "")
	var out strings.Builder
	if err := run(context.Background(), []string{"--version"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "linux-builder-webhook (devel)\n") || !strings.Contains(got, "\ncommit: unknown\n") {
		t.Fatalf("--version printed %q", got)
	}
}

// The receiver takes its settings as flags too (webhook.Settings, as
// `bot serve`): here the app id, path, address and migration come from
// flags, with the environment saying otherwise or nothing.
func TestReceiverFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	db := storetest.PostgresUnmigrated(t)
	t.Setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
	t.Setenv("GITHUB_APP_ID", "")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("WEBHOOK_PATH", "/elsewhere")
	t.Setenv("MIGRATE", "false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--app-id", "9", "--path", "/hooks", "--addr", addr, "--database-url", db.ConnURL(), "--migrate"}, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
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
		if i > 200 {
			t.Fatalf("receiver not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := []byte(`{"zen":"hi"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "star")
	req.Header.Set("X-GitHub-Delivery", "f-1")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign("s3cret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("delivery on --path: %d", resp.StatusCode)
	}
	if d, err := db.Delivery(context.Background(), 9, "f-1"); err != nil || d.Event != "star" {
		t.Fatalf("delivery recorded under --app-id 9: %+v %v", d, err)
	}
}

// A mistyped flag prints the receiver's usage to standard error, often
// into a deployment's logs: the database URL's default shows no password.
func TestUsageHidesTheDatabasePassword(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://lb:S3cretPW@db.example/lb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	runErr := run(context.Background(), []string{"--bogus"}, io.Discard)
	os.Stderr = saved
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if runErr == nil || !strings.Contains(string(out), "database-url") {
		t.Fatalf("run(--bogus) = %v, usage:\n%s", runErr, out)
	}
	if strings.Contains(string(out), "S3cretPW") {
		t.Fatalf("the usage shows the database password:\n%s", out)
	}
}
