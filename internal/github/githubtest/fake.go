// Package githubtest is a fake GitHub for tests. Every request the bot
// sends is validated against GitHub's own OpenAPI description
// (testdata/github/openapi/rest-subset.json): an undocumented endpoint, a
// bad parameter or body fails the test. It serves installation tokens,
// repository contents, collaborator permissions, pull requests and their
// files, issue comments and the App's webhook deliveries; tests set the
// state with SetFile, SetPermission, SetPullRequest and AddDelivery and
// read what the bot did with Comments, Redelivered and Calls.
package githubtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
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

	perms       map[string]string // "owner/repo|login" → permission
	pulls       map[string]*PullRequest
	comments    []Comment
	nextID      int64
	deliveries  []HookDelivery // newest first
	redelivered []int64
	checkRuns   []*CheckRun
	faults      []*Fault
	releases    []*Release
	reactions   []Reaction
	branches    map[string]string // "owner/repo:branch" → sha
	createdPRs  []CreatedPR
	// brokenUploads is how many uploads still fail half-way with a 502,
	// leaving a partial ("starter") asset, as GitHub can.
	brokenUploads int
	// outageUntil, outageHits and onRequest: see outage.go.
	outageUntil time.Time
	outageHits  int
	onRequest   func(method, route string)
	// manifests are the App-manifest codes not yet converted (manifest.go).
	manifests map[string]*ManifestApp
	// oauth and repos: see oauth.go.
	oauth oauthState
	repos map[string]bool // "owner/repo" (lower case) → private
	// rateUsed counts the requests of the rate-limit window the fake
	// reports in GitHub's X-RateLimit-* headers (limit RateLimit).
	rateUsed int
}

// RateLimit is the hourly request limit the fake reports: each request
// answered lowers X-RateLimit-Remaining by one, as on GitHub.
const RateLimit = 5000

// Release is a release of the fake, with its assets.
type Release struct {
	ID         int64
	Repo       string
	Tag        string
	Target     string
	Name       string
	Body       string
	Prerelease bool
	// Draft releases are seen only by people with push access; GitHub
	// does not find them by tag.
	Draft  bool
	Assets []*Asset
}

// Asset is a release asset; the fake keeps its size and digest, not its
// bytes (uploads are hashed as they stream).
type Asset struct {
	ID     int64
	Name   string
	Size   int64
	Digest string // sha256:<hex>
	State  string // uploaded, or starter for a broken upload
}

// CreatedPR is a pull request the bot opened, with the files it
// committed on its branch.
type CreatedPR struct {
	Repo, Title, Head, Base, Body string
	Number                        int
	Files                         map[string][]byte
}

// SetBranch makes branch of repo point at sha.
func (s *Server) SetBranch(repo, branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.branches == nil {
		s.branches = map[string]string{}
	}
	s.branches[repo+":"+branch] = sha
}

// CreatedPRs returns the pull requests the bot opened.
func (s *Server) CreatedPRs() []CreatedPR {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CreatedPR(nil), s.createdPRs...)
}

// BreakUploads makes the next n uploads fail half-way with a 502.
func (s *Server) BreakUploads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.brokenUploads = n
}

// Releases returns copies of the releases.
func (s *Server) Releases() []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Release, len(s.releases))
	for i, r := range s.releases {
		out[i] = *r
		out[i].Assets = nil
		for _, a := range r.Assets {
			out[i].Assets = append(out[i].Assets, &Asset{ID: a.ID, Name: a.Name, Size: a.Size, Digest: a.Digest, State: a.State})
		}
	}
	return out
}

// UploadsURL is the upload base URL to configure the bot with.
func (s *Server) UploadsURL() string { return s.URL + "/api/uploads/" }

// CheckRun is a check run as the fake keeps it: the latest state, every
// annotation received (GitHub appends them) and how many writes made it.
type CheckRun struct {
	ID          int64
	Repo        string
	Name        string
	HeadSHA     string
	ExternalID  string
	DetailsURL  string
	Status      string
	Conclusion  string
	Title       string
	Summary     string
	Text        string
	Actions     []map[string]any
	Annotations []map[string]any
	Writes      int
	StartedAt   string
	CompletedAt string
}

// Fault makes the fake answer the next matching request(s) with Status
// and Header instead of serving them. Apply, when set, serves the request
// first (GitHub did the work, the answer was lost) and then answers with
// the fault.
type Fault struct {
	Method string
	Path   string // an OpenAPI route, e.g. /repos/{owner}/{repo}/check-runs/{check_run_id}
	Status int
	Header http.Header
	Times  int  // how many requests; 0 means 1
	Apply  bool // do the work, then fail
	hits   int
}

// Inject adds a fault.
func (s *Server) Inject(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Hits is how many requests a fault answered.
func (f *Fault) Hits() int { return f.hits }

// CheckRuns returns copies of the check runs.
func (s *Server) CheckRuns() []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckRun, len(s.checkRuns))
	for i, c := range s.checkRuns {
		out[i] = *c
		out[i].Annotations = append([]map[string]any(nil), c.Annotations...)
	}
	return out
}

// PullRequest is a pull request of the fake.
type PullRequest struct {
	Repo     string // base repository
	Number   int
	State    string // open (default) or closed
	HeadSHA  string
	HeadRepo string // "" for a deleted fork
	Author   string
	Files    []File
}

// File is a file a pull request changes.
type File struct {
	Name   string
	Status string // added, modified, removed, renamed
}

// Comment is an issue or pull request comment the bot posted.
type Comment struct {
	ID     int64
	Repo   string
	Number int
	Body   string
	Edits  int
}

// Reaction is a reaction the bot added to a comment.
type Reaction struct {
	CommentID int64
	Content   string
}

// Reactions returns the reactions added so far, in order.
func (s *Server) Reactions() []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reaction(nil), s.reactions...)
}

// HookDelivery is an attempt of a webhook delivery, as GET
// /app/hook/deliveries lists them.
type HookDelivery struct {
	ID          int64
	GUID        string
	DeliveredAt time.Time
	StatusCode  int
	Redelivery  bool
	Event       string
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
	s := &Server{t: t, router: router, files: map[string][]byte{}, perms: map[string]string{}, pulls: map[string]*PullRequest{}, nextID: 1000}
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

// SetPermission sets login's permission on repo (admin, write, read; a
// login without one is not a collaborator: 404).
func (s *Server) SetPermission(repo, login, perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perms[repo+"|"+login] = perm
}

// SetPullRequest adds or replaces a pull request.
func (s *Server) SetPullRequest(pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.State == "" {
		pr.State = "open"
	}
	s.pulls[fmt.Sprintf("%s#%d", pr.Repo, pr.Number)] = &pr
}

// Comments returns the comments posted so far.
func (s *Server) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Comment(nil), s.comments...)
}

// AddDelivery records a delivery attempt (listed newest first).
func (s *Server) AddDelivery(d HookDelivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries = append([]HookDelivery{d}, s.deliveries...)
}

// Redelivered lists the delivery attempts the bot asked to redeliver.
func (s *Server) Redelivered() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.redelivered...)
}

// Calls lists "METHOD path" of every request, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.serveOAuth(w, r) {
		return
	}
	r.URL.Path = strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api/v3"), "/api/uploads")
	if r.URL.RawPath != "" {
		// An escaped slash (a tag like linux-build/abc-1) is one path
		// parameter: route on the escaped path.
		r.URL.Path = strings.TrimPrefix(strings.TrimPrefix(r.URL.RawPath, "/api/v3"), "/api/uploads")
		r.URL.RawPath = ""
	}
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	s.rateUsed++
	used := s.rateUsed
	s.mu.Unlock()
	// GitHub's rate-limit headers, on every answer (a fault's own headers
	// replace them).
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(RateLimit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		s.t.Errorf("fake GitHub: %s %s is not in GitHub's OpenAPI description: %v", r.Method, r.URL.Path, err)
		http.Error(w, "not documented", http.StatusNotFound)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			// An upload's body is the file: it is streamed into a hash,
			// not read into memory to be validated.
			ExcludeRequestBody: route.Path == "/repos/{owner}/{repo}/releases/{release_id}/assets" && r.Method == http.MethodPost}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		s.t.Errorf("fake GitHub: %s %s does not match GitHub's OpenAPI description: %v", r.Method, r.URL.Path, err)
		http.Error(w, "invalid request", http.StatusUnprocessableEntity)
		return
	}
	auth := r.Header.Get("Authorization")
	appAuth := strings.HasPrefix(route.Path, "/app/") // the App's own endpoints take its JWT
	switch {
	case route.Path == manifestRoute:
		// Unauthenticated by design: the code is the credential. A token
		// sent here would be a token leaked to whoever serves the API.
		if auth != "" {
			s.t.Errorf("fake GitHub: %s %s is unauthenticated, got an Authorization header", r.Method, r.URL.Path)
		}
	case appAuth && !strings.HasPrefix(auth, "Bearer "):
		s.t.Errorf("fake GitHub: %s %s needs the App's JWT (Bearer), got %q", r.Method, r.URL.Path, auth)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded"})
		return
	case route.Path == "/user" && !strings.HasPrefix(auth, "Bearer gho_"):
		s.t.Errorf("fake GitHub: %s %s needs a user token, got %q", r.Method, r.URL.Path, auth)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication"})
		return
	case route.Path != "/user" && !appAuth && !strings.HasPrefix(auth, "token ") && !strings.HasPrefix(auth, "Bearer ghs_"):
		s.t.Errorf("fake GitHub: %s %s needs an installation token, got %q", r.Method, r.URL.Path, auth)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication"})
		return
	}
	repo := params["owner"] + "/" + params["repo"]
	if s.intercept(w, r.Method, route.Path) {
		return
	}
	if f := s.fault(r.Method, route.Path); f != nil {
		if f.Apply {
			s.route(route.Path, params, repo, httptest.NewRecorder(), r)
		}
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		writeJSON(w, f.Status, map[string]string{"message": http.StatusText(f.Status) + " (injected)"})
		return
	}
	s.route(route.Path, params, repo, w, r)
}

func (s *Server) fault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Method == method && f.Path == path && f.hits < f.Times {
			f.hits++
			return f
		}
	}
	return nil
}

// call is one request to a faked endpoint: its path parameters, its
// repository ("owner/name", when the path has one) and the exchange.
type call struct {
	params map[string]string
	repo   string
	w      http.ResponseWriter
	r      *http.Request
}

// routes are the faked endpoints by their OpenAPI path, one handler each
// (routes.go): a table.
var routes = map[string]func(*Server, call){
	"/app/installations/{installation_id}/access_tokens":           (*Server).handleAccessToken,
	"/repos/{owner}/{repo}/contents/{path}":                        (*Server).handleContents,
	"/repos/{owner}/{repo}/collaborators/{username}/permission":    (*Server).handlePermission,
	"/repos/{owner}/{repo}/pulls/{pull_number}":                    (*Server).handlePull,
	"/repos/{owner}/{repo}/pulls/{pull_number}/files":              (*Server).handlePullFiles,
	"/repos/{owner}/{repo}/issues/{issue_number}/comments":         (*Server).handleCreateComment,
	"/app/hook/deliveries":                                         (*Server).handleDeliveries,
	"/app/hook/deliveries/{delivery_id}/attempts":                  (*Server).handleRedeliver,
	"/repos/{owner}/{repo}/check-runs":                             (*Server).handleCreateCheckRun,
	"/repos/{owner}/{repo}/check-runs/{check_run_id}":              (*Server).handleUpdateCheckRun,
	"/repos/{owner}/{repo}/commits/{ref}/check-runs":               (*Server).handleListCheckRuns,
	"/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": (*Server).handleReact,
	"/repos/{owner}/{repo}/issues/comments/{comment_id}":           (*Server).handleEditComment,
	"/repos/{owner}/{repo}/commits/{ref}":                          (*Server).handleCommit,
	"/repos/{owner}/{repo}/git/refs":                               (*Server).handleCreateRef,
	"/repos/{owner}/{repo}/pulls":                                  (*Server).handlePulls,
	"/repos/{owner}/{repo}/releases/tags/{tag}":                    (*Server).handleReleaseByTag,
	"/repos/{owner}/{repo}/releases":                               (*Server).handleReleases,
	"/repos/{owner}/{repo}/releases/{release_id}/assets":           (*Server).handleReleaseAssets,
	"/repos/{owner}/{repo}/releases/assets/{asset_id}":             (*Server).handleDeleteReleaseAsset,
	"/repos/{owner}/{repo}/releases/{release_id}":                  (*Server).handleRelease,
	manifestRoute:           (*Server).handleManifestConversion,
	"/repos/{owner}/{repo}": (*Server).handleRepo,
	"/user":                 (*Server).handleUser,
}

func (s *Server) route(path string, params map[string]string, repo string, w http.ResponseWriter, r *http.Request) {
	h, ok := routes[path]
	if !ok {
		s.t.Errorf("fake GitHub: %s %s is documented but not faked yet", r.Method, path)
		http.Error(w, "not implemented", http.StatusNotImplemented)
		return
	}
	h(s, call{params: params, repo: repo, w: w, r: r})
}

// apply takes a create or update body, as GitHub does: annotations are
// appended, the rest replaced.
func (c *CheckRun) apply(in map[string]any) {
	c.Writes++
	str := func(k string, dst *string) {
		if v, ok := in[k].(string); ok {
			*dst = v
		}
	}
	str("name", &c.Name)
	str("head_sha", &c.HeadSHA)
	str("external_id", &c.ExternalID)
	str("details_url", &c.DetailsURL)
	str("status", &c.Status)
	str("started_at", &c.StartedAt)
	str("completed_at", &c.CompletedAt)
	if v, ok := in["conclusion"].(string); ok {
		c.Conclusion, c.Status = v, "completed"
	}
	if o, ok := in["output"].(map[string]any); ok {
		if v, ok := o["title"].(string); ok {
			c.Title = v
		}
		if v, ok := o["summary"].(string); ok {
			c.Summary = v
		}
		if v, ok := o["text"].(string); ok {
			c.Text = v
		}
		if as, ok := o["annotations"].([]any); ok {
			for _, a := range as {
				c.Annotations = append(c.Annotations, a.(map[string]any))
			}
		}
	}
	if as, ok := in["actions"].([]any); ok {
		c.Actions = nil
		for _, a := range as {
			c.Actions = append(c.Actions, a.(map[string]any))
		}
	}
}

func (c *CheckRun) json(base string) map[string]any {
	var conclusion any
	if c.Conclusion != "" {
		conclusion = c.Conclusion
	}
	return map[string]any{"id": c.ID, "node_id": "CR_fake", "name": c.Name, "head_sha": c.HeadSHA, "external_id": c.ExternalID,
		"status": c.Status, "conclusion": conclusion, "details_url": c.DetailsURL,
		"url":      fmt.Sprintf("%s/api/v3/repos/%s/check-runs/%d", base, c.Repo, c.ID),
		"html_url": fmt.Sprintf("https://github.com/%s/runs/%d", c.Repo, c.ID),
		"output":   map[string]any{"title": c.Title, "summary": c.Summary, "text": c.Text, "annotations_count": len(c.Annotations)},
		"app":      map[string]any{"id": 1, "slug": "linux-builder"}}
}

func (s *Server) pull(repo, number string) (*PullRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.pulls[repo+"#"+number]
	if !ok {
		return nil, false
	}
	cp := *pr
	return &cp, true
}

func (pr *PullRequest) json(base string) map[string]any {
	owner, _, _ := strings.Cut(pr.Repo, "/")
	var headRepo any
	if pr.HeadRepo != "" {
		ho, _, _ := strings.Cut(pr.HeadRepo, "/")
		headRepo = map[string]any{"full_name": pr.HeadRepo, "fork": pr.HeadRepo != pr.Repo, "owner": map[string]any{"login": ho}}
	}
	return map[string]any{
		"url": fmt.Sprintf("%s/repos/%s/pulls/%d", base, pr.Repo, pr.Number), "number": pr.Number, "state": pr.State,
		"title": "Change the spec", "user": map[string]any{"login": pr.Author, "type": "User"},
		"head": map[string]any{"sha": pr.HeadSHA, "ref": "feature", "label": "feature", "repo": headRepo},
		"base": map[string]any{"sha": "0000000000000000000000000000000000000000", "ref": "main", "label": owner + ":main",
			"repo": map[string]any{"full_name": pr.Repo, "owner": map[string]any{"login": owner}}},
	}
}

func (s *Server) pageParams(r *http.Request) (page, per int) {
	page, per = 1, 30
	if v := r.URL.Query().Get("page"); v != "" {
		page = int(s.pathID(v))
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		per = int(s.pathID(v))
	}
	return max(page, 1), max(per, 1)
}

// pathID is a numeric path or query parameter (the OpenAPI check lets
// only integers through).
func (s *Server) pathID(v string) int64 {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		s.t.Errorf("fake GitHub: path id %q: %v", v, err)
	}
	return id
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, doc string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": doc})
}

// upload streams an asset's body into a hash, as GitHub stores it; a
// name already used is a 422, as on GitHub.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, rel *Release) {
	name := r.URL.Query().Get("name")
	s.mu.Lock()
	for _, a := range rel.Assets {
		if a.Name == name {
			s.mu.Unlock()
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
				"errors": []map[string]string{{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}}})
			return
		}
	}
	broken := s.brokenUploads > 0
	if broken {
		s.brokenUploads--
	}
	s.nextID++
	a := &Asset{ID: s.nextID, Name: name, State: "starter"}
	rel.Assets = append(rel.Assets, a)
	s.mu.Unlock()
	if r.ContentLength < 0 {
		s.t.Errorf("fake GitHub: upload of %s without a Content-Length", name)
	}
	h := sha256.New()
	var n int64
	var err error
	if broken {
		n, err = io.CopyN(h, r.Body, r.ContentLength/2)
	} else {
		n, err = io.Copy(h, r.Body)
	}
	s.mu.Lock()
	a.Size = n
	if err == nil && !broken && n == r.ContentLength {
		a.State, a.Digest = "uploaded", "sha256:"+hex.EncodeToString(h.Sum(nil))
	}
	out := a.json(s.URL, rel)
	s.mu.Unlock()
	if broken || err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Bad Gateway"})
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (rel *Release) json(base string) map[string]any {
	htmlURL := fmt.Sprintf("https://github.com/%s/releases/tag/%s", rel.Repo, rel.Tag)
	if rel.Draft {
		htmlURL = fmt.Sprintf("https://github.com/%s/releases/tag/untagged-%d", rel.Repo, rel.ID)
	}
	assets := []map[string]any{}
	for _, a := range rel.Assets {
		assets = append(assets, a.json(base, rel))
	}
	return map[string]any{"id": rel.ID, "tag_name": rel.Tag, "target_commitish": rel.Target, "name": rel.Name, "body": rel.Body,
		"prerelease": rel.Prerelease, "draft": rel.Draft, "assets": assets,
		"html_url":   htmlURL,
		"upload_url": fmt.Sprintf("%s/api/uploads/repos/%s/releases/%d/assets{?name,label}", base, rel.Repo, rel.ID)}
}

func (a *Asset) json(base string, rel *Release) map[string]any {
	var digest any
	if a.Digest != "" {
		digest = a.Digest
	}
	return map[string]any{"id": a.ID, "name": a.Name, "state": a.State, "size": a.Size, "digest": digest,
		"content_type":         "application/octet-stream",
		"browser_download_url": fmt.Sprintf("https://github.com/%s/releases/download/%s/%s", rel.Repo, rel.Tag, a.Name),
		"url":                  fmt.Sprintf("%s/api/v3/repos/%s/releases/assets/%d", base, rel.Repo, a.ID)}
}

// PrivateKey is a fresh RSA key in PEM, as GitHub hands an App's out: the
// key of an App the fake authenticates.
func PrivateKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}
