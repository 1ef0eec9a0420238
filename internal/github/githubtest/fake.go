// Package githubtest is a fake GitHub for tests. Every request the bot
// sends is validated against GitHub's own OpenAPI description
// (testdata/github/openapi/rest-subset.json): an undocumented endpoint, a
// bad parameter or body fails the test. It serves installation tokens and
// repository contents; tests add files with SetFile.
package githubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Server is a running fake GitHub.
type Server struct {
	*httptest.Server
	t      testing.TB
	router routers.Router
	mu     sync.Mutex
	files  map[string][]byte // "owner/repo@sha:path"
	calls  []string
}

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	loadErr  error
)

func spec() (*openapi3.T, error) {
	loadOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		path := filepath.Join(filepath.Dir(file), "../../../testdata/github/openapi/rest-subset.json")
		loader := openapi3.NewLoader()
		loaded, loadErr = loader.LoadFromFile(path)
		if loadErr == nil {
			// Match paths on any host: the fake listens on loopback.
			loaded.Servers = nil
		}
	})
	return loaded, loadErr
}

// New starts a fake GitHub; it is closed when the test ends. Its API base
// URL, as for GitHub Enterprise Server, is URL()+"/api/v3".
func New(t testing.TB) *Server {
	t.Helper()
	doc, err := spec()
	if err != nil {
		t.Fatalf("load GitHub's OpenAPI description: %v", err)
	}
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation(), openapi3.DisableSchemaPatternValidation())
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	s := &Server{t: t, router: router, files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to configure the bot with.
func (s *Server) APIURL() string { return s.URL + "/api/v3/" }

// SetFile makes path of repo readable at sha.
func (s *Server) SetFile(repo, sha, path string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[repo+"@"+sha+":"+path] = content
}

// Calls lists "METHOD path" of every request, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = strings.TrimPrefix(r.URL.Path, "/api/v3")
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		s.t.Errorf("fake GitHub: %s %s is not in GitHub's OpenAPI description: %v", r.Method, r.URL.Path, err)
		http.Error(w, "not documented", http.StatusNotFound)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		s.t.Errorf("fake GitHub: %s %s does not match GitHub's OpenAPI description: %v", r.Method, r.URL.Path, err)
		http.Error(w, "invalid request", http.StatusUnprocessableEntity)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") && !strings.HasPrefix(r.Header.Get("Authorization"), "token ") {
		s.t.Errorf("fake GitHub: %s %s without credentials", r.Method, r.URL.Path)
		http.Error(w, "Requires authentication", http.StatusUnauthorized)
		return
	}
	switch {
	case route.Path == "/app/installations/{installation_id}/access_tokens":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token": "ghs_fake" + params["installation_id"], "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"permissions": map[string]string{"contents": "read", "checks": "write"}, "repository_selection": "all",
		})
	case route.Path == "/repos/{owner}/{repo}/contents/{path}":
		key := params["owner"] + "/" + params["repo"] + "@" + r.URL.Query().Get("ref") + ":" + params["path"]
		s.mu.Lock()
		content, ok := s.files[key]
		s.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/contents#get-repository-content"}`)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		_, _ = w.Write(content)
	default:
		s.t.Errorf("fake GitHub: %s %s is documented but not faked yet", r.Method, route.Path)
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}
