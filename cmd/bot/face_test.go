package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/access"
	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// faceParts are what serveFace is given besides the store: the fake
// GitHub, the App on it and the queue's insert side.
func faceParts(tb testing.TB, db *store.DB) (*githubtest.Server, *github.App, *queue.Inserter) {
	tb.Helper()
	fake := githubtest.New(tb)
	gh, err := github.NewApp(github.Config{AppID: 1, APIURL: fake.APIURL(), PrivateKey: githubtest.PrivateKey(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	return fake, gh, ins
}

// The web face has one rule of who reads which run, for the API, its
// event streams and the pages alike (serveFace wires them): these are the
// attacks on it.
func TestWebFaceOneRule(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	fake, gh, ins := faceParts(t, db)
	t.Setenv("API_RATE", "off")
	t.Setenv("PUBLIC_URL", "")
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	closeFace, err := serveFace(fctx, app, db, ins, gh, fake.APIURL(), t.TempDir(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFace()

	token := func(name string, scope store.Scope) (string, int64) {
		tok, hash, err := api.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		row, err := db.CreateToken(ctx, name, scope, hash)
		if err != nil {
			t.Fatal(err)
		}
		return tok, row.ID
	}
	tokA, idA := token("a", store.ScopeBuild)
	_, idB := token("b", store.ScopeBuild)
	inst := int64(9)
	mk := func(repo string, owner int64) int64 {
		r := &store.Run{Trigger: run.TriggerAPI, Repo: "api", SpecSource: "name: x\n"}
		if owner != 0 {
			r.APITokenID = &owner
		} else {
			r.Trigger, r.Repo, r.InstallationID, r.HeadSHA, r.Ref = run.TriggerPush, repo, &inst, strings.Repeat("a", 40), "refs/heads/main"
		}
		if err := db.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Ended: an event stream of it ends at once.
		if err := db.FinishWith(ctx, r.ID, run.Complete, "", nil); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	fake.SetRepoVisibility("octo/public", false)
	fake.SetRepoVisibility("octo/secret", true)
	fake.SetPermission("octo/secret", "mona", "read")
	pub, priv, ofB := mk("octo/public", 0), mk("octo/secret", 0), mk("", idB)
	_ = idA
	session := func(login string) string {
		secret := "session-of-" + login + "-0123456789abcdefghij"
		now := time.Now()
		if err := db.CreateSession(ctx, &store.WebSession{ID: store.SessionID(secret), Login: login, UserID: 1, CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	mona, eve := session("mona"), session("eve")

	send := func(method, path, tok, cookie string) int {
		req := httptest.NewRequest(method, path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if path == "/ws" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "lb_session", Value: cookie})
		}
		resp, err := app.Test(req, 10000)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	b := func(id int64, rest string) string { return fmt.Sprintf("%s/builds/%d%s", api.Prefix, id, rest) }
	cases := []struct {
		name          string
		method, path  string
		token, cookie string
		want          int
	}{
		{"a token reads a public repository's run", "GET", b(pub, ""), tokA, "", 200},
		{"but may not cancel it", "POST", b(pub, "/cancel"), tokA, "", 403},
		{"nor rebuild it (its repository's release)", "POST", b(pub, "/rebuild"), tokA, "", 403},
		{"a token does not read a private repository's run", "GET", b(priv, ""), tokA, "", 404},
		{"nor another token's run", "GET", b(ofB, ""), tokA, "", 404},
		{"nor cancel it", "POST", b(ofB, "/cancel"), tokA, "", 404},
		{"nobody reads a public run from its page", "GET", b(pub, ""), "", "", 200},
		{"and its log", "GET", b(pub, "/logs"), "", "", 200},
		{"and its events", "GET", b(pub, "/events"), "", "", 200},
		{"but not a private one", "GET", b(priv, ""), "", "", 404},
		{"nor its events", "GET", b(priv, "/events"), "", "", 404},
		{"nor an API run", "GET", b(ofB, ""), "", "", 404},
		{"nobody lists builds", "GET", api.Prefix + "/builds", "", "", 401},
		{"nobody changes a run", "POST", b(pub, "/cancel"), "", "", 401},
		{"nobody reads the seed's status", "GET", fmt.Sprintf("/build/status/%d", pub), "", "", 401},
		{"a person GitHub lets read the repository reads its run", "GET", b(priv, ""), "", mona, 200},
		{"and its events", "GET", b(priv, "/events"), "", mona, 200},
		{"and its page", "GET", fmt.Sprintf("/runs/%d", priv), "", mona, 200},
		{"a session does not change a run", "POST", b(priv, "/cancel"), "", mona, 401},
		{"someone else does not read it", "GET", b(priv, ""), "", eve, 404},
		{"nor its page", "GET", fmt.Sprintf("/runs/%d", priv), "", eve, 404},
		{"a made-up session is nobody", "GET", b(priv, ""), "", "forged-session-secret-0123456789", 404},
		{"a bad token is not a session's fallback", "GET", b(pub, ""), "lbt_not-a-real-token", mona, 401},
		{"the WebSocket refuses a bad token", "GET", "/ws", "lbt_not-a-real-token", "", 401},
		{"and nobody (a socket hears of every run)", "GET", "/ws", "", "", 401},
	}
	for _, c := range cases {
		if got := send(c.method, c.path, c.token, c.cookie); got != c.want {
			t.Errorf("%s: %s %s: %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
}

// A WebSocket's token or session is asked again every minute: once it is
// revoked (or signed out) the socket hears of nothing more, although it
// could read the run a moment before.
func TestRunSightForgetsARevokedViewer(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	owner := int64(3)
	r := &store.Run{Trigger: run.TriggerAPI, Repo: "api", SpecSource: "name: x\n", APITokenID: &owner}
	if err := db.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	live := true
	rules := &access.Access{TokenOf: apiTokenOf}
	s := newRunSight(db, rules, access.Viewer{TokenID: owner}, func(context.Context) bool { return live })
	if !s.canSee(r.ID) {
		t.Fatal("the token's own run is not seen")
	}
	live = false // bot token revoke
	if !s.canSee(r.ID) {
		t.Fatal("asked again within the minute")
	}
	s.checked = time.Now().Add(-time.Minute)
	if s.canSee(r.ID) {
		t.Error("a revoked token's socket still sees its run")
	}
	live = true
	s.checked = time.Now().Add(-time.Minute)
	if s.canSee(r.ID) {
		t.Error("a socket once revoked sees again")
	}
	other := newRunSight(db, rules, access.Viewer{TokenID: owner + 1}, func(context.Context) bool { return true })
	if other.canSee(r.ID) || other.canSee(999) {
		t.Error("another token's socket sees the run (or an unknown one)")
	}
}
