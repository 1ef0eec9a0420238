package github

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
)

// The route table is the OpenAPI subset the fake GitHub serves: a call the
// bot makes is in both (the fake refuses the others), so a route missing
// from the table would be counted as "other".
func TestRoutesAreTheOpenAPISubset(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/github/openapi/rest-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for p := range doc.Paths {
		want = append(want, p)
	}
	for _, r := range routes {
		got = append(got, r.template)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("route table\n%q\nOpenAPI subset\n%q", got, want)
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"app", "/app", "/app"},
		{"token", "/app/installations/42/access_tokens", "/app/installations/{installation_id}/access_tokens"},
		{"check runs", "/repos/o/r/check-runs", "/repos/{owner}/{repo}/check-runs"},
		{"check run", "/repos/o/r/check-runs/7", "/repos/{owner}/{repo}/check-runs/{check_run_id}"},
		{"commit's check runs", "/repos/o/r/commits/abc123/check-runs", "/repos/{owner}/{repo}/commits/{ref}/check-runs"},
		{"commit", "/repos/o/r/commits/abc123", "/repos/{owner}/{repo}/commits/{ref}"},
		{"file in a directory", "/repos/o/r/contents/ci/linux-build.yaml", "/repos/{owner}/{repo}/contents/{path}"},
		{"ref with slashes", "/repos/o/r/git/ref/heads/feature/x", "/repos/{owner}/{repo}/git/ref/{ref}"},
		{"release by tag (escaped slash)", "/repos/o/r/releases/tags/linux-build%2Fabc-1", "/repos/{owner}/{repo}/releases/tags/{tag}"},
		{"release asset", "/repos/o/r/releases/assets/9", "/repos/{owner}/{repo}/releases/assets/{asset_id}"},
		{"release's assets", "/repos/o/r/releases/9/assets", "/repos/{owner}/{repo}/releases/{release_id}/assets"},
		{"comment reactions", "/repos/o/r/issues/comments/5/reactions", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"},
		{"issue comments", "/repos/o/r/issues/5/comments", "/repos/{owner}/{repo}/issues/{issue_number}/comments"},
		{"compare", "/repos/o/r/compare/main...feature/x", "/repos/{owner}/{repo}/compare/{basehead}"},
		// Hostile or unknown paths never leak into the label.
		{"unknown", "/repos/o/r/secret-scanning/alerts", RouteOther},
		{"empty", "", RouteOther},
		{"root", "/", RouteOther},
		{"empty segment", "/repos//r/check-runs", RouteOther},
		{"too deep", "/repos/o/r/check-runs/7/annotations/extra", RouteOther},
		{"tag with a raw slash", "/repos/o/r/releases/tags/x/y", RouteOther},
		{"huge", "/repos/o/r/contents/" + strings.Repeat("a/", 5000), RouteOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Route(tc.path); got != tc.want {
				t.Fatalf("Route(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
	// Every template, its parameters filled in, is its own route.
	for _, r := range routes {
		path := r.template
		for _, seg := range r.segs {
			if seg[0] == '{' {
				path = strings.Replace(path, seg, "x1", 1)
			}
		}
		if got := Route(path); got != r.template {
			t.Errorf("Route(%q) = %q, want %q", path, got, r.template)
		}
	}
}

func TestRouteAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = Route("/repos/o/r/contents/ci/linux-build.yaml") })
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	calls []string
	left  []string
}

func (r *recorder) GitHubResponse(method, route string, status int, h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method+" "+route+" "+http.StatusText(status))
	if h != nil {
		r.left = append(r.left, h.Get("X-RateLimit-Remaining"))
	}
}

var _ Observer = (*recorder)(nil)

// Every exchange of an installation's client is observed, the token's
// included, by route template (GitHub Enterprise Server's /api/v3 cut
// off), with the fake's rate-limit headers.
func TestObserverSeesEveryExchange(t *testing.T) {
	fake := githubtest.New(t)
	rec := &recorder{}
	app, err := NewApp(Config{AppID: 1, PrivateKey: testKey(t), APIURL: fake.APIURL(), UploadURL: fake.UploadsURL(), Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	fake.SetFile("o/r", "abc", "linux-build.yaml", []byte("base: debian\n"))
	if _, err := app.FetchFile(t.Context(), 7, "o/r", "linux-build.yaml", "abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FetchFile(t.Context(), 7, "o/r", "missing.yaml", "abc"); err == nil {
		t.Fatal("a missing file was found")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{
		"POST /app/installations/{installation_id}/access_tokens Created",
		"GET /repos/{owner}/{repo}/contents/{path} OK",
		"GET /repos/{owner}/{repo}/contents/{path} Not Found",
	}
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("observed\n%q\nwant\n%q", rec.calls, want)
	}
	if !slices.Equal(rec.left, []string{"4999", "4998", "4997"}) {
		t.Fatalf("rate limit left %q", rec.left)
	}
}
