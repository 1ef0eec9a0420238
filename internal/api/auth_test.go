package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// start asks for a build of the example spec with tok.
func (e *env) start(tok string) int64 {
	e.t.Helper()
	resp, body := e.do("POST", "/api/v1/builds", exampleYAML(e.t), reqOpts{token: tok, ctype: "application/yaml"})
	wantStatus(e.t, resp, body, http.StatusAccepted)
	return decode[api.BuildCreated](e.t, body).ID
}

// TestAuthAttacks: no token, a wrong, malformed or revoked token are 401
// with WWW-Authenticate; a read token cannot build; a token cannot tell
// another token's build from one that does not exist.
func TestAuthAttacks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		e := newEnv(t, db, envOptions{})
		tokA, _ := e.token("a", store.ScopeBuild)
		tokB, _ := e.token("b", store.ScopeBuild)
		reader, _ := e.token("reader", store.ScopeRead)
		admin, _ := e.token("admin", store.ScopeAdmin)
		runA := e.start(tokA)
		ctx := context.Background()

		forged, _, err := api.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		revoked, _ := e.token("old", store.ScopeAdmin)
		if err := db.RevokeToken(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, header string }{
			{"no token", ""},
			{"not a bearer", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
			{"unknown token", "Bearer " + forged},
			{"malformed token", "Bearer lbt_../../etc/passwd"},
			{"revoked token", "Bearer " + revoked},
			{"a token's hash", "Bearer " + api.HashToken(tokA)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				o := reqOpts{headers: map[string]string{}}
				if tc.header != "" {
					o.headers["Authorization"] = tc.header
				}
				resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d", runA), nil, o)
				wantStatus(t, resp, body, http.StatusUnauthorized)
				if resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("401 headers %v", resp.Header)
				}
				resp, body = e.do("POST", "/build/start", exampleJSON(t), reqOpts{headers: o.headers, raw: true})
				wantStatus(t, resp, body, http.StatusUnauthorized)
			})
		}

		resp, body := e.do("POST", "/api/v1/builds", exampleYAML(t), reqOpts{token: reader, ctype: "application/yaml"})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = e.do("POST", fmt.Sprintf("/api/v1/builds/%d/cancel", runA), nil, reqOpts{token: reader})
		wantStatus(t, resp, body, http.StatusForbidden)

		// B's view of A's build is the view of a build that does not exist.
		_, hidden := e.do("GET", fmt.Sprintf("/api/v1/builds/%d", runA), nil, reqOpts{token: tokB})
		_, unknown := e.do("GET", "/api/v1/builds/987654321", nil, reqOpts{token: tokB})
		if string(hidden) != string(unknown) {
			t.Fatalf("another token's build is told apart from an unknown one:\n%s\n%s", hidden, unknown)
		}
		for _, p := range []string{"", "/logs", "/artifacts/linux.iso"} {
			resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d%s", runA, p), nil, reqOpts{token: tokB})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		for _, p := range []string{"/cancel", "/rebuild"} {
			resp, body := e.do("POST", fmt.Sprintf("/api/v1/builds/%d%s", runA, p), nil, reqOpts{token: tokB})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		for _, p := range []string{"/build/status/", "/build/artifact/", "/build/download/"} {
			suffix := ""
			if p == "/build/download/" {
				suffix = "/iso"
			}
			resp, body := e.do("GET", p+strconv.FormatInt(runA, 10)+suffix, nil, reqOpts{token: tokB, raw: true})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		resp, body = e.do("GET", "/api/v1/builds", nil, reqOpts{token: tokB})
		wantStatus(t, resp, body, http.StatusOK)
		if l := decode[api.BuildList](t, body); len(l.Builds) != 0 {
			t.Fatalf("B lists A's builds: %+v", l)
		}

		// A run from GitHub is an admin's only.
		gh := &store.Run{Trigger: run.TriggerPush, Repo: "octo/private", Ref: "refs/heads/main", HeadSHA: "abc", RequestedBy: "octocat"}
		if err := db.CreateRun(ctx, gh); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{tokA, reader} {
			resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d", gh.ID), nil, reqOpts{token: tok})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		resp, body = e.do("GET", fmt.Sprintf("/api/v1/builds/%d", gh.ID), nil, reqOpts{token: admin})
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = e.do("GET", "/api/v1/builds?repository=octo/private", nil, reqOpts{token: admin})
		wantStatus(t, resp, body, http.StatusOK)
		if l := decode[api.BuildList](t, body); len(l.Builds) != 1 || l.Builds[0].ID != gh.ID {
			t.Fatalf("admin's list %+v", l)
		}
		resp, body = e.do("GET", fmt.Sprintf("/api/v1/builds/%d", runA), nil, reqOpts{token: admin})
		wantStatus(t, resp, body, http.StatusOK)

		// Hostile paging and ids are refused by the document's bounds.
		for _, p := range []string{"/api/v1/builds?limit=1000000", "/api/v1/builds?limit=0", "/api/v1/builds?cursor=-1",
			fmt.Sprintf("/api/v1/builds/%d/logs?limit=99999999", runA), "/api/v1/builds/0", "/api/v1/builds/abc"} {
			resp, body := e.do("GET", p, nil, reqOpts{token: admin, invalid: true})
			wantStatus(t, resp, body, http.StatusUnprocessableEntity)
		}
		tokens, err := db.Tokens(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tokens {
			if tk.Name == "a" && (tk.LastUsedAt == nil || time.Since(*tk.LastUsedAt) > time.Minute) {
				t.Fatalf("token a's last use is not recorded: %+v", tk)
			}
		}
	})
}

// TestRateLimit: a token over API_RATE is answered 429 with Retry-After;
// another token is not held back by it; failed authentications are
// limited per address.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{rate: api.Rate{Limit: 0.5, Burst: 2}, failedRate: api.Rate{Limit: 0.5, Burst: 3}})
	tokA, _ := e.token("a", store.ScopeRead)
	tokB, _ := e.token("b", store.ScopeRead)
	for i := 0; i < 2; i++ {
		resp, body := e.do("GET", "/api/v1/builds", nil, reqOpts{token: tokA})
		wantStatus(t, resp, body, http.StatusOK)
	}
	resp, body := e.do("GET", "/api/v1/builds", nil, reqOpts{token: tokA})
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	resp, body = e.do("GET", "/api/v1/builds", nil, reqOpts{token: tokB})
	wantStatus(t, resp, body, http.StatusOK)

	forged, _, _ := api.NewToken()
	for i := 0; i < 3; i++ {
		resp, body := e.do("GET", "/api/v1/builds", nil, reqOpts{token: forged})
		wantStatus(t, resp, body, http.StatusUnauthorized)
	}
	resp, body = e.do("GET", "/api/v1/builds", nil, reqOpts{token: forged})
	wantStatus(t, resp, body, http.StatusTooManyRequests)
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit float64
		burst int
		bad   bool
	}{
		{in: "", limit: 10, burst: 20},
		{in: "10/s burst 20", limit: 10, burst: 20},
		{in: "600/m", limit: 10, burst: 20},
		{in: "3600/h burst 5", limit: 1, burst: 5},
		{in: "off", limit: 0, burst: 0},
		{in: "10", bad: true},
		{in: "-1/s", bad: true},
		{in: "0/s", bad: true},
		{in: "10/s burst 0", bad: true},
		{in: "10/d", bad: true},
	} {
		r, err := api.ParseRate(tc.in)
		if (err != nil) != tc.bad || !tc.bad && (float64(r.Limit) != tc.limit || r.Burst != tc.burst) {
			t.Errorf("ParseRate(%q) = %+v, %v", tc.in, r, err)
		}
	}
}
