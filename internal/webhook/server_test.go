package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"
)

const secret = webhooktest.Secret

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newApp(t *testing.T, db *store.DB) *fiber.App {
	t.Helper()
	q, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := store.NewCommitter(db, q, 0, 0)
	t.Cleanup(c.Close)
	app, err := New(Config{Secret: secret, AppID: 1, Store: db, Intake: c, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

type payload struct {
	event, name string
	body        []byte
}

func payloads(t *testing.T) []payload {
	t.Helper()
	files, err := filepath.Glob("../../testdata/github/webhooks/*/*.json")
	if err != nil || len(files) < 100 {
		t.Fatalf("payloads: %d files, %v", len(files), err)
	}
	var out []payload
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, payload{event: filepath.Base(filepath.Dir(f)), name: filepath.Base(f), body: b})
	}
	return out
}

// Every real payload is accepted when signed, and rejected when the
// signature is missing, wrong, or was computed over a re-serialised body.
func TestEveryRealPayload(t *testing.T) {
	app := newApp(t, storetest.SQLite(t, nil))
	for i, p := range payloads(t) {
		t.Run(p.event+"/"+p.name, func(t *testing.T) {
			id := fmt.Sprintf("delivery-%d", i)
			if code, body := webhooktest.Post(t, app, p.event, id, p.body, Sign(secret, p.body)); code != 200 && code != 202 {
				t.Fatalf("signed: %d %s", code, body)
			}
			if code, _ := webhooktest.Post(t, app, p.event, id+"-nosig", p.body, ""); code != 401 {
				t.Fatalf("unsigned: %d", code)
			}
			if code, _ := webhooktest.Post(t, app, p.event, id+"-wrong", p.body, Sign("not the secret", p.body)); code != 401 {
				t.Fatalf("wrong secret: %d", code)
			}
			var v any
			if err := json.Unmarshal(p.body, &v); err != nil {
				t.Fatal(err)
			}
			reser, _ := json.MarshalIndent(v, "", " ")
			if bytes.Equal(reser, p.body) {
				t.Fatal("re-serialising did not change the body; the test proves nothing")
			}
			if code, _ := webhooktest.Post(t, app, p.event, id+"-reser", reser, Sign(secret, p.body)); code != 401 {
				t.Fatalf("re-serialised body: %d", code)
			}
		})
	}
}

// pushWithSpec is a real push payload whose head commit adds the spec.
func pushWithSpec(t *testing.T, after string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/github/webhooks/push/00-none.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["ref"], m["after"], m["deleted"] = "refs/heads/main", after, false
	commit := map[string]any{"id": after, "added": []string{"linux-build.yaml"}, "modified": []string{}, "removed": []string{}}
	m["commits"], m["head_commit"] = []any{commit}, commit
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPushRouting(t *testing.T) {
	base := pushWithSpec(t, "0000000000000000000000000000000000000001")
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(base, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name    string
		body    []byte
		wantRun bool
		reason  string
	}{
		{"spec added on a branch", base, true, ""},
		{"spec modified", edit(func(m map[string]any) {
			c := map[string]any{"modified": []string{"linux-build.yaml"}, "added": []string{}}
			m["commits"], m["head_commit"] = []any{c}, c
		}), true, ""},
		{"spec untouched", edit(func(m map[string]any) {
			c := map[string]any{"modified": []string{"README.md"}}
			m["commits"], m["head_commit"] = []any{c}, c
		}), false, "not changed"},
		{"tag push", edit(func(m map[string]any) { m["ref"] = "refs/tags/v1" }), false, "not a branch push"},
		{"branch deleted", edit(func(m map[string]any) { m["deleted"] = true }), false, "branch deleted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{SpecPath: "linux-build.yaml", installs: newInstallCache(downStore{}, time.Minute)}
			dec, err := decidePush(context.Background(), cfg, tc.body, &store.Delivery{})
			if err != nil {
				t.Fatal(err)
			}
			if (dec.Run != nil) != tc.wantRun || !strings.Contains(dec.Reason, tc.reason) {
				t.Fatalf("decision %+v", dec)
			}
			if tc.wantRun && (dec.Run.HeadSHA == "" || dec.Run.Ref != "refs/heads/main" || dec.Run.Repo == "") {
				t.Fatalf("run %+v", dec.Run)
			}
		})
	}
}

// The same delivery sent five times at once makes exactly one run.
func TestConcurrentRedeliveryMakesOneRun(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		app := newApp(t, db)
		body := pushWithSpec(t, "0000000000000000000000000000000000000002")
		sig := Sign(secret, body)
		codes := make(chan int, 5)
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _ := webhooktest.Post(t, app, "push", "same-delivery", body, sig)
				codes <- code
			}()
		}
		wg.Wait()
		close(codes)
		accepted, dup := 0, 0
		for c := range codes {
			switch c {
			case 202:
				accepted++
			case 200:
				dup++
			default:
				t.Fatalf("status %d", c)
			}
		}
		runs, err := db.ListRuns(context.Background(), store.RunFilter{})
		if err != nil || len(runs) != 1 || accepted != 1 || dup != 4 {
			t.Fatalf("%d runs, %d accepted, %d duplicates (%v)", len(runs), accepted, dup, err)
		}
	})
}

type downStore struct{}

type downIntake struct{}

func (downIntake) Intake(context.Context, *store.IntakeItem) (store.IntakeResult, error) {
	return store.IntakeResult{}, errors.New("connection refused")
}
func (downStore) Run(context.Context, int64) (*store.Run, error) {
	return nil, errors.New("connection refused")
}
func (downStore) LatestRunAt(context.Context, string, string) (*store.Run, error) {
	return nil, errors.New("connection refused")
}
func (downStore) Ready(context.Context) error { return errors.New("connection refused") }
func (downStore) PayloadSeen(context.Context, int64, string, string, time.Time) (string, error) {
	return "", errors.New("connection refused")
}
func (downStore) UpsertInstallation(context.Context, *store.Installation) error {
	return errors.New("connection refused")
}
func (downStore) DeleteInstallation(context.Context, int64) error {
	return errors.New("connection refused")
}
func (downStore) Installation(context.Context, int64) (*store.Installation, error) {
	return nil, errors.New("connection refused")
}

func TestDatabaseDownIs503AndBodyCapIs413(t *testing.T) {
	app, err := New(Config{Secret: secret, Store: downStore{}, Intake: downIntake{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	body := pushWithSpec(t, "0000000000000000000000000000000000000003")
	if code, _ := webhooktest.Post(t, app, "push", "d1", body, Sign(secret, body)); code != 503 {
		t.Fatalf("database down: %d, want 503", code)
	}
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	resp, err := app.Test(req)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("readyz with the database down: %v %v", resp.StatusCode, err)
	}
	// The body cap is enforced by the server while reading, so it is
	// tested over a real loopback connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	// A client announcing a body over the cap gets 413 before it sends
	// it: the server reads no more than 8 KiB ahead (fasthttp's look-ahead
	// of a streamed body) before it answers.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d2\r\nContent-Length: %d\r\n\r\n%s",
		MaxBody+1, bytes.Repeat([]byte("x"), 8<<10+1))
	resp2, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("oversized body: %v", err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 413 {
		t.Fatalf("oversized body: %d, want 413", resp2.StatusCode)
	}
	if code, _ := webhooktest.Post(t, app, "ping", "d3", []byte("{}"), Sign(secret, []byte("{}"))); code != 200 {
		t.Fatalf("ping: %d", code)
	}
	if _, err := New(Config{Store: downStore{}, Intake: downIntake{}}); err == nil {
		t.Fatal("started without a webhook secret")
	}
}

func sendFile(t *testing.T, app *fiber.App, event, file, id string, edit func(map[string]any)) int {
	t.Helper()
	b, err := os.ReadFile("../../testdata/github/webhooks/" + event + "/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ = json.Marshal(m)
	}
	code, _ := webhooktest.Post(t, app, event, id, b, Sign(secret, b))
	return code
}

// Installations are recorded from their events, and a suspended
// installation's pushes do not build.
func TestInstallationsAndSuspension(t *testing.T) {
	db := storetest.SQLite(t, nil)
	app := newApp(t, db)
	ctx := context.Background()
	if code := sendFile(t, app, "installation", "01-created.json", "i1", nil); code != 202 {
		t.Fatalf("created: %d", code)
	}
	in, err := db.Installation(ctx, 957387)
	if err != nil || in.Account != "Codertocat" || in.Suspended || strings.Join(in.Repositories, ",") != "Codertocat/Hello-World" {
		t.Fatalf("installation %+v %v", in, err)
	}
	if code := sendFile(t, app, "installation_repositories", "00-added.json", "i2", nil); code != 202 {
		t.Fatalf("repositories added: %d", code)
	}
	in, _ = db.Installation(ctx, 957387)
	if strings.Join(in.Repositories, ",") != "Codertocat/Hello-World,Codertocat/Space" {
		t.Fatalf("repositories %v", in.Repositories)
	}
	// Suspend it (the payload is another installation's: point it at ours).
	if code := sendFile(t, app, "installation", "05-suspend.json", "i3", func(m map[string]any) {
		m["installation"].(map[string]any)["id"] = 957387
	}); code != 202 {
		t.Fatalf("suspend: %d", code)
	}
	in, _ = db.Installation(ctx, 957387)
	if !in.Suspended {
		t.Fatal("not suspended")
	}
	push := pushWithSpec(t, "0000000000000000000000000000000000000009")
	var m map[string]any
	_ = json.Unmarshal(push, &m)
	m["installation"] = map[string]any{"id": 957387}
	push, _ = json.Marshal(m)
	if code, body := webhooktest.Post(t, app, "push", "p1", push, Sign(secret, push)); code != 202 || !strings.Contains(body, "suspended") {
		t.Fatalf("push of a suspended installation: %d %s", code, body)
	}
	if runs, _ := db.ListRuns(ctx, store.RunFilter{}); len(runs) != 0 {
		t.Fatalf("%d runs for a suspended installation", len(runs))
	}
	if code := sendFile(t, app, "installation", "06-unsuspend.json", "i4", func(m map[string]any) {
		m["installation"].(map[string]any)["id"] = 957387
	}); code != 202 {
		t.Fatalf("unsuspend: %d", code)
	}
	// A new push (the same body again would be a replay).
	m["after"] = "000000000000000000000000000000000000000a"
	push, _ = json.Marshal(m)
	if code, _ := webhooktest.Post(t, app, "push", "p2", push, Sign(secret, push)); code != 202 {
		t.Fatalf("push after unsuspend: %d", code)
	}
	if runs, _ := db.ListRuns(ctx, store.RunFilter{}); len(runs) != 1 {
		t.Fatalf("%d runs after unsuspend, want 1", len(runs))
	}
	if code := sendFile(t, app, "installation", "00-deleted.json", "i5", func(m map[string]any) {
		m["installation"].(map[string]any)["id"] = 957387
	}); code != 202 {
		t.Fatalf("deleted: %d", code)
	}
	if _, err := db.Installation(ctx, 957387); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted installation still there: %v", err)
	}
}

// An installation may keep its spec elsewhere; pushes are routed on that
// path and the run fetches it from there.
func TestInstallationSpecPath(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	if err := db.UpsertInstallation(ctx, &store.Installation{ID: 77, Account: "octo"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSpecPath(ctx, 77, "ci/linux-build.yaml"); err != nil {
		t.Fatal(err)
	}
	app := newApp(t, db)
	push := func(path, sha string) []byte {
		var m map[string]any
		_ = json.Unmarshal(pushWithSpec(t, sha), &m)
		m["installation"] = map[string]any{"id": 77}
		c := map[string]any{"id": sha, "added": []string{path}, "modified": []string{}, "removed": []string{}}
		m["commits"], m["head_commit"] = []any{c}, c
		b, _ := json.Marshal(m)
		return b
	}
	b := push("linux-build.yaml", "0000000000000000000000000000000000000077")
	if code, body := webhooktest.Post(t, app, "push", "sp1", b, Sign(secret, b)); code != 202 || !strings.Contains(body, "ci/linux-build.yaml is not changed") {
		t.Fatalf("default path pushed: %d %s", code, body)
	}
	b = push("ci/linux-build.yaml", "0000000000000000000000000000000000000078")
	if code, body := webhooktest.Post(t, app, "push", "sp2", b, Sign(secret, b)); code != 202 || !strings.Contains(body, "run_id") {
		t.Fatalf("installation's path pushed: %d %s", code, body)
	}
	runs, _ := db.ListRuns(ctx, store.RunFilter{})
	// The repository's default branch is recorded: a schedule rebuilds
	// that branch's latest successful run.
	if len(runs) != 1 || runs[0].SpecPath != "ci/linux-build.yaml" || runs[0].DefaultBranch != "master" {
		t.Fatalf("runs %+v", runs)
	}
}
