package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
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

func TestReceiverNeedsASecret(t *testing.T) {
	t.Setenv("GITHUB_WEBHOOK_SECRET", "")
	if err := run(context.Background()); err == nil || !strings.Contains(err.Error(), "GITHUB_WEBHOOK_SECRET") {
		t.Fatalf("started without a secret: %v", err)
	}
	t.Setenv("GITHUB_WEBHOOK_SECRET", "x")
	// The receiver links no SQLite: it needs PostgreSQL.
	t.Setenv("DATABASE_URL", "")
	if err := run(context.Background()); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("started without a database: %v", err)
	}
	t.Setenv("INTAKE_BATCH", "many")
	if err := run(context.Background()); err == nil || !strings.Contains(err.Error(), "INTAKE_BATCH") {
		t.Fatalf("bad INTAKE_BATCH: %v", err)
	}
}
