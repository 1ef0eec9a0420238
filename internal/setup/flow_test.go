package setup_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/setup"
)

const token = "0123456789abcdef-test-token"

// flow is a setup handler on a real server, a browser with a cookie jar
// and the fake GitHub its codes are converted with.
type flow struct {
	t       *testing.T
	srv     *httptest.Server
	browser *http.Client
	fake    *githubtest.Server
	out     setup.Output
	h       *setup.Handler
}

type opts struct {
	ghes     bool
	disabled bool
	now      func() time.Time
}

func newFlow(t *testing.T, o opts) *flow {
	t.Helper()
	fake := githubtest.New(t)
	app, err := setup.ParseAppFile(linuxbuilder.AppManifest)
	if err != nil {
		t.Fatal(err)
	}
	gh := setup.GitHub{WebURL: "https://github.com", APIURL: fake.URL} // the fake answers github.com's paths too
	if o.ghes {
		if gh, err = setup.GitHubFrom("", fake.URL+"/api/v3"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := setup.NewOutput(filepath.Join(t.TempDir(), "conf", "github-app.env"), false)
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, fake: fake, out: out}
	f.srv = httptest.NewUnstartedServer(nil)
	h, err := setup.New(setup.Config{App: app, PublicURL: "https://builder.example.com/", SetupURL: "http://" + f.srv.Listener.Addr().String(),
		GitHub: gh, Output: out, Token: token, Disabled: o.disabled, Now: o.now, ConvertTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv.Config.Handler = h
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.browser = &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

func (f *flow) get(path string) (int, string) {
	f.t.Helper()
	resp, err := f.browser.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	manifestIn = regexp.MustCompile(`name="manifest" value="([^"]+)"`)
)

// start opens /setup and returns the form's action and manifest.
func (f *flow) start(query string) (action *url.URL, m map[string]any) {
	f.t.Helper()
	code, body := f.get("/setup?token=" + token + query)
	if code != http.StatusOK {
		f.t.Fatalf("GET /setup: %d %s", code, body)
	}
	a, mj := formAction.FindStringSubmatch(body), manifestIn.FindStringSubmatch(body)
	if a == nil || mj == nil {
		f.t.Fatalf("no manifest form in the page:\n%s", body)
	}
	action, err := url.Parse(html.UnescapeString(a[1]))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(mj[1])), &m); err != nil {
		f.t.Fatalf("the manifest is not JSON: %v\n%s", err, mj[1])
	}
	return action, m
}

// noFiles fails when the credentials were written.
func (f *flow) noFiles() {
	f.t.Helper()
	for _, p := range []string{f.out.Env, f.out.PEM} {
		if _, err := os.Lstat(p); err == nil {
			f.t.Errorf("%s was written", p)
		}
	}
}

func TestStartShowsTheManifest(t *testing.T) {
	f := newFlow(t, opts{})
	action, m := f.start("")
	if got := action.Scheme + "://" + action.Host + action.Path; got != "https://github.com/settings/apps/new" {
		t.Errorf("form posts to %s", got)
	}
	state := action.Query().Get("state")
	if len(state) < 40 {
		t.Errorf("state %q is short", state)
	}
	u, _ := url.Parse(f.srv.URL)
	var cookie *http.Cookie
	for _, c := range f.browser.Jar.Cookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/setup/callback"}) {
		if c.Name == "lb_setup_state" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != state {
		t.Fatalf("the browser's state cookie %v does not hold the form's state %q", cookie, state)
	}
	want := map[string]any{
		"name": "Linux Builder", "url": "https://builder.example.com",
		"hook_attributes": map[string]any{"url": "https://builder.example.com/webhook", "active": true},
		"redirect_url":    f.srv.URL + "/setup/callback",
		"callback_urls":   []any{"https://builder.example.com/auth/callback"},
		"setup_url":       "https://builder.example.com/runs",
		"public":          false,
		"default_permissions": map[string]any{"checks": "write", "contents": "write", "issues": "write",
			"pull_requests": "write", "metadata": "read"},
	}
	for k, v := range want {
		got, _ := json.Marshal(m[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("manifest %s = %s, want %s", k, got, exp)
		}
	}
	var events []string
	for _, e := range m["default_events"].([]any) {
		events = append(events, e.(string))
	}
	sort.Strings(events)
	if strings.Join(events, ",") != "check_run,check_suite,issue_comment,pull_request,push" {
		t.Errorf("events %v", events)
	}
}

func TestStartForAnOrganisationAndName(t *testing.T) {
	f := newFlow(t, opts{})
	action, m := f.start("&org=octo-org&name=" + url.QueryEscape("LB Staging"))
	if action.Path != "/organizations/octo-org/settings/apps/new" || m["name"] != "LB Staging" {
		t.Errorf("action %s, name %v", action, m["name"])
	}
	for _, q := range []string{"org=-bad", "org=a/b", "org=" + strings.Repeat("a", 40), "org=a--b", "org=%3Cscript%3E",
		"name=" + strings.Repeat("n", 35), "name=%3Cb%3E", "name=%0Aevil"} {
		if code, _ := f.get("/setup?token=" + token + "&" + q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}

func TestStartNeedsTheToken(t *testing.T) {
	f := newFlow(t, opts{})
	for _, q := range []string{"", "?token=", "?token=" + token[:len(token)-1], "?token=" + token + "x"} {
		code, body := f.get("/setup" + q)
		if code != http.StatusForbidden || strings.Contains(body, "manifest") {
			t.Errorf("GET /setup%s: %d, want 403 without a form", q, code)
		}
	}
	if len(f.browser.Jar.Cookies(mustURL(t, f.srv.URL+"/setup"))) != 0 {
		t.Error("a state was issued without the token")
	}
	if code, _ := f.get("/setup/other"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	resp, err := f.browser.Post(f.srv.URL+"/setup/callback?code=a&state=b", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST callback: %d", resp.StatusCode)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCallbackCompletesTheFlow(t *testing.T) {
	f := newFlow(t, opts{})
	action, _ := f.start("")
	want := f.fake.AddManifestCode("a180b1a3d263c81bc6441d7b990bae27d4c10679")
	code, body := f.get("/setup/callback?code=a180b1a3d263c81bc6441d7b990bae27d4c10679&state=" + url.QueryEscape(action.Query().Get("state")))
	if code != http.StatusOK {
		t.Fatalf("callback: %d %s", code, body)
	}
	if want.Conversions != 1 {
		t.Errorf("the code was converted %d times", want.Conversions)
	}
	for _, s := range []string{want.ClientSecret, want.WebhookSecret, "PRIVATE KEY", strings.Split(want.PEM, "\n")[1]} {
		if strings.Contains(body, s) {
			t.Errorf("the page shows a secret (%.12s…)", s)
		}
	}
	for _, s := range []string{want.Slug, "https://github.com/apps/" + want.Slug + "/installations/new", f.out.Env} {
		if !strings.Contains(body, s) {
			t.Errorf("the page lacks %q:\n%s", s, body)
		}
	}
	env := readEnv(t, f.out.Env)
	exp := map[string]string{"GITHUB_APP_ID": itoa(want.ID), "GITHUB_PRIVATE_KEY_PATH": f.out.PEM, "GITHUB_WEBHOOK_SECRET": want.WebhookSecret,
		"GITHUB_CLIENT_ID": want.ClientID, "GITHUB_CLIENT_SECRET": want.ClientSecret, "PUBLIC_URL": "https://builder.example.com"}
	for k, v := range exp {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["GITHUB_API_URL"]; ok {
		t.Error("github.com needs no GITHUB_API_URL")
	}
	// The bot reads the key where the file says.
	key, err := github.PrivateKeyFromEnv(func(k string) string { return env[k] })
	if err != nil || string(key) != want.PEM {
		t.Errorf("PrivateKeyFromEnv: %v", err)
	}
	// Once made, the flow is closed until the process restarts.
	select {
	case <-f.h.Done():
	default:
		t.Error("Done is not closed")
	}
	if code, _ := f.get("/setup?token=" + token); code != http.StatusGone {
		t.Errorf("GET /setup after success: %d, want 410", code)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// readEnv reads the environment file, checking both files' modes.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	for _, p := range []string{path, strings.TrimSuffix(path, ".env") + ".pem"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not NAME=value", line)
		}
		env[k] = v
	}
	return env
}

func TestCallbackRefusesBadStates(t *testing.T) {
	f := newFlow(t, opts{})
	action, _ := f.start("")
	state := action.Query().Get("state")
	app := f.fake.AddManifestCode("c0de")
	cases := []struct {
		name  string
		query string
		code  int
	}{
		{"no state", "?code=c0de", http.StatusBadRequest},
		{"no code", "?state=" + state, http.StatusBadRequest},
		{"a state this browser was not given", "?code=c0de&state=" + strings.Repeat("A", 43), http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := f.get("/setup/callback" + tc.query); code != tc.code {
				t.Errorf("%d, want %d", code, tc.code)
			}
		})
	}
	// The cookie was spent by the forged try: the right state fails too
	// (and was spent), and a fresh browser without a cookie gets nothing.
	if code, _ := f.get("/setup/callback?code=c0de&state=" + state); code != http.StatusBadRequest {
		t.Errorf("after a forged try: %d, want 400 (no cookie)", code)
	}
	if app.Conversions != 0 {
		t.Errorf("the code was converted %d times", app.Conversions)
	}
	f.noFiles()
}

func TestCallbackStateIsSingleUse(t *testing.T) {
	f := newFlow(t, opts{})
	action, _ := f.start("")
	state := action.Query().Get("state")
	cookies := f.browser.Jar.Cookies(mustURL(t, f.srv.URL+"/setup"))
	// The first try spends the state (GitHub does not know the code).
	if code, _ := f.get("/setup/callback?code=unknown&state=" + state); code != http.StatusBadRequest {
		t.Errorf("unknown code: %d, want 400", code)
	}
	// Replaying the same cookie and state is refused.
	f.fake.AddManifestCode("c0de")
	f.browser.Jar.SetCookies(mustURL(t, f.srv.URL+"/setup"), cookies)
	if code, _ := f.get("/setup/callback?code=c0de&state=" + state); code != http.StatusForbidden {
		t.Errorf("replayed state: %d, want 403", code)
	}
	f.noFiles()
}

func TestCallbackStateExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFlow(t, opts{now: func() time.Time { return now }})
	action, _ := f.start("")
	app := f.fake.AddManifestCode("c0de")
	now = now.Add(setup.DefaultStateTTL + time.Second)
	if code, _ := f.get("/setup/callback?code=c0de&state=" + action.Query().Get("state")); code != http.StatusForbidden {
		t.Errorf("expired state: %d, want 403", code)
	}
	if app.Conversions != 0 {
		t.Error("the code was converted")
	}
	f.noFiles()
}

func TestExistingOutputIsNotOverwritten(t *testing.T) {
	f := newFlow(t, opts{})
	action, _ := f.start("")
	if err := os.MkdirAll(filepath.Dir(f.out.Env), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.out.Env, []byte("GITHUB_APP_ID=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := f.get("/setup?token=" + token); code != http.StatusConflict || strings.Contains(body, "name=\"manifest\"") {
		t.Errorf("GET /setup with an existing output: %d", code)
	}
	app := f.fake.AddManifestCode("c0de")
	if code, _ := f.get("/setup/callback?code=c0de&state=" + action.Query().Get("state")); code != http.StatusConflict {
		t.Errorf("callback with an existing output: %d, want 409", code)
	}
	if app.Conversions != 0 {
		t.Error("the code was converted though its credentials could not be written")
	}
	if raw, _ := os.ReadFile(f.out.Env); string(raw) != "GITHUB_APP_ID=1\n" {
		t.Errorf("the existing file changed: %q", raw)
	}
	if _, err := os.Lstat(f.out.PEM); err == nil {
		t.Error("a key was written beside the existing file")
	}
}

func TestGHES(t *testing.T) {
	f := newFlow(t, opts{ghes: true})
	action, _ := f.start("&org=eng")
	if got := action.Scheme + "://" + action.Host + action.Path; got != f.fake.URL+"/organizations/eng/settings/apps/new" {
		t.Errorf("form posts to %s, want the GHES host's page", got)
	}
	want := f.fake.AddManifestCode("c0de")
	if code, body := f.get("/setup/callback?code=c0de&state=" + action.Query().Get("state")); code != http.StatusOK {
		t.Fatalf("callback: %d %s", code, body)
	}
	if calls := strings.Join(f.fake.Calls(), "\n"); !strings.Contains(calls, "POST /app-manifests/c0de/conversions") {
		t.Errorf("calls: %s", calls)
	}
	env := readEnv(t, f.out.Env)
	if env["GITHUB_API_URL"] != f.fake.URL+"/api/v3" || env["GITHUB_URL"] != f.fake.URL || env["GITHUB_UPLOAD_URL"] != f.fake.URL+"/api/uploads/" ||
		env["GITHUB_APP_ID"] != itoa(want.ID) {
		t.Errorf("env %v", env)
	}
}

func TestDisabledAnswers404(t *testing.T) {
	f := newFlow(t, opts{disabled: true})
	for _, p := range []string{"/setup?token=" + token, "/setup/callback?code=a&state=b"} {
		if code, body := f.get(p); code != http.StatusNotFound || strings.Contains(body, "GitHub") {
			t.Errorf("%s: %d %q, want a bare 404", p, code, body)
		}
	}
}

// A GitHub answer whose secret would end the line and add a setting is
// refused whole: nothing is written.
func TestHostileAnswerWritesNothing(t *testing.T) {
	f := newFlow(t, opts{})
	action, _ := f.start("")
	app := f.fake.AddManifestCode("c0de")
	app.Extra = map[string]any{"webhook_secret": "s\nGITHUB_API_URL=https://evil.example"}
	code, body := f.get("/setup/callback?code=c0de&state=" + action.Query().Get("state"))
	if code != http.StatusInternalServerError || strings.Contains(body, "evil") {
		t.Errorf("%d %s", code, body)
	}
	f.noFiles()
}

// The state cookie of an https setup URL is Secure, HttpOnly, Lax and
// __Host- prefixed.
func TestSecureCookie(t *testing.T) {
	app, err := setup.ParseAppFile(linuxbuilder.AppManifest)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := setup.NewOutput(filepath.Join(t.TempDir(), "a.env"), false)
	h, err := setup.New(setup.Config{App: app, PublicURL: "https://builder.example.com", GitHub: setup.GitHub{WebURL: "https://github.com", APIURL: "https://api.github.com"},
		Output: out, Token: token,
		Convert: func(context.Context, string) (*github.ManifestApp, error) { panic("not called") }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/setup?token="+token, nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "__Host-lb_setup_state" || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/" {
		t.Errorf("cookies %+v", cs)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://github.com") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rec.Header())
	}
}
