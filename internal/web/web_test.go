package web

import (
	"context"
	"fmt"
	"github.com/linux-builder/linux-builder/internal/access"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// site is the pages on a loopback listener, over a store and the fake
// GitHub, with a browser-like client (cookies, redirects followed).
type site struct {
	t      *testing.T
	db     *store.DB
	fake   *githubtest.Server
	url    string
	client *http.Client
	inst   int64
}

func newSite(t *testing.T, db *store.DB, withOAuth bool) *site {
	t.Helper()
	return newSiteWith(t, db, withOAuth, nil)
}

// newSiteWith is newSite with more routes on its app (mount, when set).
func newSiteWith(t *testing.T, db *store.DB, withOAuth bool, mount func(*fiber.App, *Web)) *site {
	t.Helper()
	fake := githubtest.New(t)
	gh, err := github.NewApp(github.Config{AppID: 1, PrivateKey: githubtest.PrivateKey(t), APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	cfg := Config{Store: db, Access: &access.Access{GitHub: gh, Logger: quiet}, PublicURL: public, GitHubURL: "https://github.com", Logger: quiet}
	if withOAuth {
		fake.SetOAuthClient("Iv1.client", "client-secret")
		cfg.OAuth = &github.OAuth{ClientID: "Iv1.client", ClientSecret: "client-secret", WebURL: fake.URL, APIURL: fake.APIURL()}
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	w.Register(app)
	if mount != nil {
		mount(app, w)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &site{t: t, db: db, fake: fake, url: public, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}, inst: 42}
}

// get fetches path and returns the status and body.
func (s *site) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// addRun records a run of repo (from GitHub when repo is owner/name with
// an installation; "" makes a CLI run).
func (s *site) addRun(repo string, mod func(*store.Run)) *store.Run {
	s.t.Helper()
	r := &store.Run{Trigger: run.TriggerPush, Repo: repo, Ref: "refs/heads/main", HeadSHA: strings.Repeat("ab", 20), SpecPath: "linux-build.yaml",
		SpecSource: "name: demo\nbase:\n  distro: debian\n"}
	if repo == "" {
		r.Repo, r.Trigger = "local", run.TriggerCLI
	} else {
		r.InstallationID = &s.inst
	}
	if mod != nil {
		mod(r)
	}
	if err := s.db.CreateRun(context.Background(), r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

func TestRunPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		t.Run("public repository's run is shown to anyone", func(t *testing.T) { testPublicRun(t, db) })
		t.Run("private runs are not found, the same as no run", func(t *testing.T) { testPrivateHidden(t, db) })
		t.Run("signed in with read permission", func(t *testing.T) { testSignIn(t, db) })
		t.Run("sign-in attacks", func(t *testing.T) { testSignInAttacks(t, db) })
		t.Run("hostile content is text", func(t *testing.T) { testHostileContent(t, db) })
		t.Run("list filters and pages", func(t *testing.T) { testList(t, db) })
	})
}

func testPublicRun(t *testing.T, db *store.DB) {
	s := newSite(t, db, false)
	s.fake.SetRepoVisibility("octo/public", false)
	r := s.addRun("octo/public", func(r *store.Run) { n := 7; r.Number = &n; r.Trigger = run.TriggerPullRequest; r.Ref = run.PullRef(7) })
	ctx := context.Background()
	if err := db.EnterStep(ctx, r.ID, run.Validating); err != nil {
		t.Fatal(err)
	}
	if err := db.EnterStep(ctx, r.ID, run.Building); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLogs(ctx, []store.RunLog{{RunID: r.ID, Step: run.Building, Level: run.LogInfo, Message: "Step 3/9 : RUN apt-get install", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: r.ID, Name: "linux.iso", Type: run.ArtifactISO, Key: fmt.Sprintf("runs/%d/linux.iso", r.ID), Size: 3 << 20, SHA256: strings.Repeat("c", 64)}); err != nil {
		t.Fatal(err)
	}
	code, body := s.get(fmt.Sprintf("/runs/%d", r.ID))
	if code != http.StatusOK {
		t.Fatalf("run page: %d\n%s", code, body)
	}
	for _, want := range []string{
		"octo/public", "Step 3/9 : RUN apt-get install",
		`id="step-VALIDATING" class="step step-done"`, `id="step-BUILDING" class="step step-running"`, `id="step-BOOT_TESTING" class="step step-pending"`,
		fmt.Sprintf(`href="/api/v1/builds/%d/artifacts/linux.iso"`, r.ID), "3.0 MiB", strings.Repeat("c", 64),
		"https://github.com/octo/public/pull/7", "https://github.com/octo/public/commit/" + strings.Repeat("ab", 20),
		`data-live="true"`, `<script src="/static/run.js">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	// The page's headers: no inline script may run, no framing, no cache.
	resp, err := s.client.Get(fmt.Sprintf("%s/runs/%d", s.url, r.ID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", resp.Header)
	}
	if code, js := s.get("/static/run.js"); code != http.StatusOK || !strings.Contains(js, "EventSource") {
		t.Errorf("run.js: %d", code)
	}
	if code, _ := s.get("/static/..%2fweb.go"); code != http.StatusNotFound {
		t.Errorf("a path out of static/: %d, want 404", code)
	}
	// The list shows it too.
	if code, list := s.get("/runs"); code != http.StatusOK || !strings.Contains(list, fmt.Sprintf(`href="/runs/%d"`, r.ID)) {
		t.Errorf("runs list: %d lacks the run\n%s", code, list)
	}
}

func testPrivateHidden(t *testing.T, db *store.DB) {
	s := newSite(t, db, true)
	s.fake.SetRepoVisibility("octo/secret", true)
	priv := s.addRun("octo/secret", func(r *store.Run) { r.SpecSource = "name: top-secret-spec\n" })
	cli := s.addRun("", nil)
	gone := s.addRun("octo/gone", nil) // GitHub answers 404: hidden
	code, unknown := s.get("/runs/999999")
	if code != http.StatusNotFound {
		t.Fatalf("unknown run: %d", code)
	}
	for _, r := range []*store.Run{priv, cli, gone} {
		code, body := s.get(fmt.Sprintf("/runs/%d", r.ID))
		if code != http.StatusNotFound {
			t.Errorf("run %d (%s): %d, want 404", r.ID, r.Repo, code)
		}
		// Not an oracle: the answer is the unknown run's, word for word,
		// but for the sign-in link's return path.
		if strip(body) != strip(unknown) {
			t.Errorf("run %d's 404 differs from an unknown run's:\n%s\n---\n%s", r.ID, body, unknown)
		}
		if strings.Contains(body, "top-secret-spec") || strings.Contains(body, "octo/secret") {
			t.Errorf("the 404 shows the private run")
		}
	}
	for _, p := range []string{"/runs/abc", "/runs/-1", "/runs/0", "/runs/99999999999999999999"} {
		if code, _ := s.get(p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	_, list := s.get("/runs")
	for _, r := range []*store.Run{priv, cli, gone} {
		if strings.Contains(list, fmt.Sprintf(`href="/runs/%d"`, r.ID)) {
			t.Errorf("the anonymous list shows hidden run %d", r.ID)
		}
	}
}

var nextParam = regexp.MustCompile(`next=[^"&]*`)

func strip(body string) string { return nextParam.ReplaceAllString(body, "") }

func testSignIn(t *testing.T, db *store.DB) {
	s := newSite(t, db, true)
	s.fake.SetRepoVisibility("octo/secret", true)
	s.fake.SetPermission("octo/secret", "mona", "read")
	r := s.addRun("octo/secret", nil)
	page := fmt.Sprintf("/runs/%d", r.ID)
	code, body := s.get(page)
	if code != http.StatusNotFound {
		t.Fatalf("before sign-in: %d", code)
	}
	if !strings.Contains(body, "/auth/login?next=%2Fruns%2F") {
		t.Errorf("the 404 offers no sign-in back to the page:\n%s", body)
	}
	// Sign in through GitHub (the fake's authorize page agrees) and land
	// back on the page.
	s.fake.SignInAs(githubtest.User{Login: "mona", ID: 583231})
	code, body = s.get("/auth/login?next=" + url.QueryEscape(page))
	if code != http.StatusOK || !strings.Contains(body, "Signed in as <strong>mona</strong>") || !strings.Contains(body, "octo/secret") {
		t.Fatalf("after sign-in: %d\n%s", code, body)
	}
	// The session cookie is HttpOnly and SameSite=Lax, its row a hash.
	resp, err := s.client.Get(s.url + "/auth/login?next=/runs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Someone without permission sees nothing.
	s.fake.SetPermission("octo/secret", "mona", "none")
	// (The App caches permissions for a minute: a fresh site asks again.)
	s2 := newSite(t, db, true)
	s2.fake.SetRepoVisibility("octo/secret", true)
	s2.fake.SignInAs(githubtest.User{Login: "eve", ID: 666})
	if code, _ := s2.get("/auth/login?next=" + url.QueryEscape(page)); code != http.StatusNotFound {
		t.Errorf("a signed-in person without permission: %d, want 404", code)
	}
	// Sign-out needs the session's CSRF token.
	if resp, err := s.client.PostForm(s.url+"/auth/logout", url.Values{"csrf": {"forged"}}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out with a forged token: %d, want 403", resp.StatusCode)
		}
	}
	_, body = s.get("/runs")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatalf("no sign-out form:\n%s", body)
	}
	resp, err = s.client.PostForm(s.url+"/auth/logout", url.Values{"csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, body = s.get("/runs"); strings.Contains(body, "Signed in as") {
		t.Errorf("still signed in after sign-out")
	}
}

func testSignInAttacks(t *testing.T, db *store.DB) {
	s := newSite(t, db, true)
	s.fake.SignInAs(githubtest.User{Login: "mona", ID: 1})
	noRedirect := &http.Client{Jar: s.client.Jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// A callback this browser did not start (login CSRF): refused, no session.
	resp, err := noRedirect.Get(s.url + "/auth/callback?code=code00000001&state=attacker")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), "lb_session=") {
		t.Errorf("forged callback: %d %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	// An open redirect through next: always a path of this server.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/runs\r\nSet-Cookie: x=y"} {
		resp, err := noRedirect.Get(s.url + "/auth/login?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		gh, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		// Follow GitHub's answer to our callback by hand.
		back, err := noRedirect.Get(gh.String())
		if err != nil {
			t.Fatal(err)
		}
		back.Body.Close()
		cb, err := noRedirect.Get(back.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		cb.Body.Close()
		if loc := cb.Header.Get("Location"); loc != "/runs" {
			t.Errorf("next=%q: sent to %q after sign-in, want /runs", next, loc)
		}
	}
	// The person refuses on GitHub.
	s.fake.SignInAs(githubtest.User{})
	if code, body := s.get("/auth/login"); code != http.StatusForbidden || !strings.Contains(body, "access_denied") {
		t.Errorf("refused sign-in: %d", code)
	}
	// A session cookie that is not one signs nobody in.
	u, _ := url.Parse(s.url)
	s.client.Jar.SetCookies(u, []*http.Cookie{{Name: "lb_session", Value: strings.Repeat("A", 52)}})
	if _, body := s.get("/runs"); strings.Contains(body, "Signed in as") {
		t.Errorf("a made-up session cookie signed someone in")
	}
	// An expired session signs nobody in.
	secret := "expired-secret"
	now := time.Now()
	if err := db.CreateSession(context.Background(), &store.WebSession{ID: store.SessionID(secret), Login: "old", UserID: 2, CSRF: "x",
		CreatedAt: now.Add(-13 * time.Hour), ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.client.Jar.SetCookies(u, []*http.Cookie{{Name: "lb_session", Value: secret}})
	if _, body := s.get("/runs"); strings.Contains(body, "Signed in as") {
		t.Errorf("an expired session signed someone in")
	}
}

func testHostileContent(t *testing.T, db *store.DB) {
	s := newSite(t, db, false)
	s.fake.SetRepoVisibility("octo/public", false)
	r := s.addRun("octo/public", func(r *store.Run) {
		r.SpecSource = "name: x\npostInstall:\n  - </code><script>alert(1)</script>\n"
		r.Diagnostics = `[{"file":"linux-build.yaml","pos":{"line":3,"column":5},"severity":"warning","code":"x","path":"postInstall[0]","message":"<img src=x onerror=alert(2)>"},{"pos":{"line":0},"severity":"error","message":"whole file"}]`
		r.Warnings = []string{"<b>bold</b>"}
		r.FailureReason = `"><script>alert(3)</script>`
	})
	if err := db.AppendLogs(context.Background(), []store.RunLog{{RunID: r.ID, Step: run.Building, Level: run.LogInfo, Message: "</pre><script>alert(4)</script>", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	code, body := s.get(fmt.Sprintf("/runs/%d", r.ID))
	if code != http.StatusOK {
		t.Fatalf("%d", code)
	}
	if n := strings.Count(body, "<script"); n != 1 { // run.js only
		t.Errorf("%d script elements, want the page's one:\n%s", n, body)
	}
	for _, bad := range []string{"<img src=x", "<b>bold</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page has %q unescaped", bad)
		}
	}
	// The diagnostic sits under its line; the line-less one above the spec.
	if !regexp.MustCompile(`(?s)id="L3" class="has-diag".*warning at 3:5`).MatchString(body) || !strings.Contains(body, "error: whole file") {
		t.Errorf("diagnostics are not at their lines:\n%s", body)
	}
}

func testList(t *testing.T, db *store.DB) {
	s := newSite(t, db, false)
	s.fake.SetRepoVisibility("octo/public", false)
	s.fake.SetRepoVisibility("octo/secret", true)
	var public, secret []int64
	for i := range 130 {
		repo := "octo/public"
		if i%3 == 0 {
			repo = "octo/secret"
		}
		r := s.addRun(repo, nil)
		if repo == "octo/public" {
			public = append(public, r.ID)
		} else {
			secret = append(secret, r.ID)
		}
	}
	// Pages of 50 visible runs, newest first, then the rest.
	seen := map[int64]bool{}
	next := "/runs"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("the list does not end")
		}
		code, body := s.get(next)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", next, code)
		}
		for _, m := range regexp.MustCompile(`href="/runs/(\d+)"`).FindAllStringSubmatch(body, -1) {
			var id int64
			fmt.Sscan(m[1], &id)
			if seen[id] {
				t.Errorf("run %d on two pages", id)
			}
			seen[id] = true
		}
		next = ""
		if m := regexp.MustCompile(`class="next" href="([^"]+)"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	for _, id := range secret {
		if seen[id] {
			t.Errorf("the list shows private run %d", id)
		}
	}
	for _, id := range public {
		if !seen[id] {
			t.Errorf("public run %d missing", id)
		}
	}
	// A private repository's runs, asked for by name, list as none: no
	// page link tells their ids or how many there are (more than the
	// four pages a request scans).
	for range 4*pageSize - len(secret) + 1 {
		s.addRun("octo/secret", nil)
	}
	code, body := s.get("/runs?repo=octo/secret")
	if code != http.StatusOK || strings.Contains(body, `class="next"`) || strings.Contains(body, `href="/runs/`) {
		t.Errorf("a private repository's list: %d, with a page link or runs:\n%s", code, body)
	}
	// Page links are sealed: no run id in them, and a made-up one is refused.
	_, body = s.get("/runs?status=PENDING")
	m := regexp.MustCompile(`class="next" href="/runs\?before=([^"&]+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no page link:\n%s", body)
	}
	if regexp.MustCompile(`^[0-9]+$`).MatchString(m[1]) || len(m[1]) < 20 {
		t.Errorf("the page link's cursor %q shows a run id", m[1])
	}
	for _, bad := range []string{"/runs?status=WHATEVER", "/runs?trigger=x", "/runs?before=-3", "/runs?before=12", "/runs?before=" + m[1][:len(m[1])-2] + "AA", "/runs?repo=" + strings.Repeat("a", 300)} {
		if code, _ := s.get(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	code, body = s.get("/runs?status=PENDING&trigger=push&repo=octo/public")
	if code != http.StatusOK || !strings.Contains(body, `<option value="PENDING" selected>`) {
		t.Errorf("filters: %d", code)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/runs/5": "/runs/5", "/runs?status=FAILED": "/runs?status=FAILED", "": "/runs", "runs": "/runs",
		"//evil": "/runs", "/\\evil": "/runs", "https://evil/": "/runs", "/a\nb": "/runs", "/x\\y": "/runs",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
