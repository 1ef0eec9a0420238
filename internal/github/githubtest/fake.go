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
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
}

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
	r.URL.Path = strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api/v3"), "/api/uploads")
	if r.URL.RawPath != "" {
		// An escaped slash (a tag like linux-build/abc-1) is one path
		// parameter: route on the escaped path.
		r.URL.Path = strings.TrimPrefix(strings.TrimPrefix(r.URL.RawPath, "/api/v3"), "/api/uploads")
		r.URL.RawPath = ""
	}
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
	case appAuth && !strings.HasPrefix(auth, "Bearer "):
		s.t.Errorf("fake GitHub: %s %s needs the App's JWT (Bearer), got %q", r.Method, r.URL.Path, auth)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded"})
		return
	case !appAuth && !strings.HasPrefix(auth, "token ") && !strings.HasPrefix(auth, "Bearer ghs_"):
		s.t.Errorf("fake GitHub: %s %s needs an installation token, got %q", r.Method, r.URL.Path, auth)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication"})
		return
	}
	repo := params["owner"] + "/" + params["repo"]
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

func (s *Server) route(path string, params map[string]string, repo string, w http.ResponseWriter, r *http.Request) {
	switch path {
	case "/app/installations/{installation_id}/access_tokens":
		writeJSON(w, http.StatusCreated, map[string]any{
			"token": "ghs_fake" + params["installation_id"], "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"permissions":          map[string]string{"contents": "write", "checks": "write", "issues": "write", "pull_requests": "read", "metadata": "read"},
			"repository_selection": "all",
		})
	case "/repos/{owner}/{repo}/contents/{path}":
		if r.Method == http.MethodPut {
			var in struct {
				Message string `json:"message"`
				Content string `json:"content"`
				Branch  string `json:"branch"`
				SHA     string `json:"sha"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				s.t.Errorf("fake GitHub: contents body: %v", err)
			}
			content, err := base64.StdEncoding.DecodeString(in.Content)
			if err != nil {
				s.t.Errorf("fake GitHub: contents are not base64: %v", err)
			}
			key := repo + "@" + in.Branch + ":" + params["path"]
			s.mu.Lock()
			_, exists := s.files[key]
			if !exists || in.SHA != "" {
				s.files[key] = content
			}
			s.nextID++
			s.mu.Unlock()
			if exists && in.SHA == "" {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": `Invalid request. "sha" wasn't supplied.`})
				return
			}
			writeJSON(w, http.StatusCreated, map[string]any{"content": map[string]any{"name": params["path"], "path": params["path"], "sha": fmt.Sprintf("%040d", s.nextID)},
				"commit": map[string]any{"sha": fmt.Sprintf("%040d", s.nextID), "message": in.Message}})
			return
		}
		key := repo + "@" + r.URL.Query().Get("ref") + ":" + params["path"]
		s.mu.Lock()
		content, ok := s.files[key]
		s.mu.Unlock()
		if !ok {
			notFound(w, "https://docs.github.com/rest/repos/contents#get-repository-content")
			return
		}
		w.Header().Set("Content-Type", "application/vnd.github.raw")
		_, _ = w.Write(content)
	case "/repos/{owner}/{repo}/collaborators/{username}/permission":
		s.mu.Lock()
		perm, ok := s.perms[repo+"|"+params["username"]]
		s.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": params["username"] + " is not a user",
				"documentation_url": "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"permission": perm, "role_name": perm,
			"user": map[string]any{"login": params["username"], "id": 1, "type": "User"}})
	case "/repos/{owner}/{repo}/pulls/{pull_number}":
		pr, ok := s.pull(repo, params["pull_number"])
		if !ok {
			notFound(w, "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
			return
		}
		writeJSON(w, http.StatusOK, pr.json(s.URL))
	case "/repos/{owner}/{repo}/pulls/{pull_number}/files":
		pr, ok := s.pull(repo, params["pull_number"])
		if !ok {
			notFound(w, "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files")
			return
		}
		page, per := pageParams(r)
		files := []map[string]any{}
		for i := (page - 1) * per; i < min(page*per, len(pr.Files)); i++ {
			f := pr.Files[i]
			files = append(files, map[string]any{"sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": f.Name, "status": f.Status,
				"additions": 1, "deletions": 0, "changes": 1, "blob_url": s.URL + "/blob", "raw_url": s.URL + "/raw", "contents_url": s.URL + "/contents"})
		}
		if page*per < len(pr.Files) {
			next := *r.URL
			q := next.Query()
			q.Set("page", fmt.Sprint(page+1))
			next.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3%s>; rel="next"`, s.URL, next.RequestURI()))
		}
		writeJSON(w, http.StatusOK, files)
	case "/repos/{owner}/{repo}/issues/{issue_number}/comments":
		var in struct {
			Body string `json:"body"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: comment body: %v", err)
		}
		var n int
		fmt.Sscan(params["issue_number"], &n)
		s.mu.Lock()
		s.nextID++
		c := Comment{ID: s.nextID, Repo: repo, Number: n, Body: in.Body}
		s.comments = append(s.comments, c)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": c.ID, "node_id": "IC_fake", "body": c.Body,
			"html_url": fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d", repo, n, c.ID),
			"user":     map[string]any{"login": "linux-builder[bot]", "type": "Bot"}, "created_at": time.Now().UTC().Format(time.RFC3339)})
	case "/app/hook/deliveries":
		// Cursor pagination: the cursor is the index of the next attempt.
		per := 30
		if v := r.URL.Query().Get("per_page"); v != "" {
			fmt.Sscan(v, &per)
		}
		start := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			fmt.Sscan(c, &start)
		}
		s.mu.Lock()
		all := append([]HookDelivery(nil), s.deliveries...)
		s.mu.Unlock()
		out := []map[string]any{}
		for i := start; i < min(start+per, len(all)); i++ {
			d := all[i]
			status := "OK"
			if d.StatusCode < 200 || d.StatusCode >= 300 {
				status = "Invalid HTTP Response: " + fmt.Sprint(d.StatusCode)
			}
			out = append(out, map[string]any{"id": d.ID, "guid": d.GUID, "delivered_at": d.DeliveredAt.UTC().Format(time.RFC3339),
				"redelivery": d.Redelivery, "duration": 0.27, "status": status, "status_code": d.StatusCode, "event": d.Event,
				"action": nil, "installation_id": 1, "repository_id": 1})
		}
		if start+per < len(all) {
			w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3/app/hook/deliveries?per_page=%d&cursor=%d>; rel="next"`, s.URL, per, start+per))
		}
		writeJSON(w, http.StatusOK, out)
	case "/app/hook/deliveries/{delivery_id}/attempts":
		var id int64
		fmt.Sscan(params["delivery_id"], &id)
		s.mu.Lock()
		s.redelivered = append(s.redelivered, id)
		s.mu.Unlock()
		writeJSON(w, http.StatusAccepted, map[string]any{})
	case "/repos/{owner}/{repo}/check-runs":
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: check run body: %v", err)
		}
		s.mu.Lock()
		s.nextID++
		cr := &CheckRun{ID: s.nextID, Repo: repo, Status: "queued"}
		s.checkRuns = append(s.checkRuns, cr)
		cr.apply(in)
		out := cr.json(s.URL)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
	case "/repos/{owner}/{repo}/check-runs/{check_run_id}":
		var id int64
		fmt.Sscan(params["check_run_id"], &id)
		s.mu.Lock()
		var cr *CheckRun
		for _, c := range s.checkRuns {
			if c.ID == id && c.Repo == repo {
				cr = c
			}
		}
		if cr == nil {
			s.mu.Unlock()
			notFound(w, "https://docs.github.com/rest/checks/runs#update-a-check-run")
			return
		}
		if r.Method == http.MethodPatch {
			var in map[string]any
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				s.t.Errorf("fake GitHub: check run body: %v", err)
			}
			cr.apply(in)
		}
		out := cr.json(s.URL)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case "/repos/{owner}/{repo}/commits/{ref}/check-runs":
		name := r.URL.Query().Get("check_name")
		s.mu.Lock()
		list := []map[string]any{}
		for _, c := range s.checkRuns {
			if c.Repo == repo && c.HeadSHA == params["ref"] && (name == "" || c.Name == name) {
				list = append(list, c.json(s.URL))
			}
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "check_runs": list})
	case "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions":
		var in struct {
			Content string `json:"content"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: reaction body: %v", err)
		}
		var id int64
		fmt.Sscan(params["comment_id"], &id)
		s.mu.Lock()
		code := http.StatusCreated
		for _, x := range s.reactions {
			if x.CommentID == id && x.Content == in.Content {
				code = http.StatusOK // already there
			}
		}
		if code == http.StatusCreated {
			s.reactions = append(s.reactions, Reaction{CommentID: id, Content: in.Content})
		}
		s.nextID++
		rid := s.nextID
		s.mu.Unlock()
		writeJSON(w, code, map[string]any{"id": rid, "node_id": "REA_fake", "content": in.Content,
			"user": map[string]any{"login": "linux-builder[bot]", "type": "Bot"}, "created_at": time.Now().UTC().Format(time.RFC3339)})
	case "/repos/{owner}/{repo}/issues/comments/{comment_id}":
		var id int64
		fmt.Sscan(params["comment_id"], &id)
		var in struct {
			Body string `json:"body"`
		}
		if r.Method == http.MethodPatch {
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				s.t.Errorf("fake GitHub: comment body: %v", err)
			}
		}
		s.mu.Lock()
		var found *Comment
		for i := range s.comments {
			if s.comments[i].ID == id && s.comments[i].Repo == repo {
				found = &s.comments[i]
			}
		}
		if found != nil && r.Method == http.MethodPatch {
			found.Body = in.Body
			found.Edits++
		}
		var out map[string]any
		if found != nil {
			out = map[string]any{"id": found.ID, "node_id": "IC_fake", "body": found.Body,
				"html_url": fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d", repo, found.Number, found.ID),
				"user":     map[string]any{"login": "linux-builder[bot]", "type": "Bot"}}
		}
		s.mu.Unlock()
		if found == nil {
			notFound(w, "https://docs.github.com/rest/issues/comments#update-an-issue-comment")
			return
		}
		writeJSON(w, http.StatusOK, out)
	case "/repos/{owner}/{repo}/commits/{ref}":
		s.mu.Lock()
		sha, ok := s.branches[repo+":"+params["ref"]]
		s.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "No commit found for SHA: " + params["ref"]})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "node_id": "C_fake", "commit": map[string]any{"message": "head"},
			"html_url": fmt.Sprintf("https://github.com/%s/commit/%s", repo, sha)})
	case "/repos/{owner}/{repo}/git/refs":
		var in struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: ref body: %v", err)
		}
		branch := strings.TrimPrefix(in.Ref, "refs/heads/")
		s.mu.Lock()
		if s.branches == nil {
			s.branches = map[string]string{}
		}
		_, exists := s.branches[repo+":"+branch]
		if !exists {
			s.branches[repo+":"+branch] = in.SHA
		}
		s.mu.Unlock()
		if exists {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Reference already exists"})
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ref": in.Ref, "node_id": "REF_fake", "url": s.URL + "/ref",
			"object": map[string]any{"type": "commit", "sha": in.SHA, "url": s.URL + "/commit"}})
	case "/repos/{owner}/{repo}/pulls":
		if r.Method == http.MethodGet {
			head := r.URL.Query().Get("head")
			s.mu.Lock()
			list := []map[string]any{}
			for _, pr := range s.createdPRs {
				if pr.Repo == repo && strings.HasSuffix(head, ":"+pr.Head) {
					list = append(list, map[string]any{"number": pr.Number, "state": "open", "title": pr.Title,
						"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, pr.Number)})
				}
			}
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, list)
			return
		}
		var in struct {
			Title, Head, Base, Body string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: pull body: %v", err)
		}
		s.mu.Lock()
		files := map[string][]byte{}
		for k, v := range s.files {
			if strings.HasPrefix(k, repo+"@"+in.Head+":") {
				files[strings.TrimPrefix(k, repo+"@"+in.Head+":")] = v
			}
		}
		pr := CreatedPR{Repo: repo, Title: in.Title, Head: in.Head, Base: in.Base, Body: in.Body, Number: 100 + len(s.createdPRs), Files: files}
		s.createdPRs = append(s.createdPRs, pr)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"number": pr.Number, "state": "open", "title": pr.Title,
			"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", repo, pr.Number)})
	case "/repos/{owner}/{repo}/releases/tags/{tag}":
		s.mu.Lock()
		var found *Release
		for _, rel := range s.releases {
			if tag, _ := url.PathUnescape(params["tag"]); rel.Repo == repo && rel.Tag == tag && !rel.Draft {
				found = rel
			}
		}
		var out map[string]any
		if found != nil {
			out = found.json(s.URL)
		}
		s.mu.Unlock()
		if found == nil {
			notFound(w, "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name")
			return
		}
		writeJSON(w, http.StatusOK, out)
	case "/repos/{owner}/{repo}/releases":
		if r.Method == http.MethodGet {
			page, per := pageParams(r)
			s.mu.Lock()
			var list []map[string]any
			for _, rel := range s.releases {
				if rel.Repo == repo {
					list = append(list, rel.json(s.URL))
				}
			}
			s.mu.Unlock()
			from, to := min((page-1)*per, len(list)), min(page*per, len(list))
			if to < len(list) {
				w.Header().Set("Link", fmt.Sprintf(`<%s%s?per_page=%d&page=%d>; rel="next"`, s.URL, r.URL.Path, per, page+1))
			}
			writeJSON(w, http.StatusOK, append([]map[string]any{}, list[from:to]...))
			return
		}
		var in struct {
			Tag        string `json:"tag_name"`
			Target     string `json:"target_commitish"`
			Name       string `json:"name"`
			Body       string `json:"body"`
			Prerelease bool   `json:"prerelease"`
			Draft      bool   `json:"draft"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.t.Errorf("fake GitHub: release body: %v", err)
		}
		s.mu.Lock()
		for _, rel := range s.releases {
			if rel.Repo == repo && rel.Tag == in.Tag && !rel.Draft && !in.Draft {
				s.mu.Unlock()
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
					"errors": []map[string]string{{"resource": "Release", "code": "already_exists", "field": "tag_name"}}})
				return
			}
		}
		s.nextID++
		rel := &Release{ID: s.nextID, Repo: repo, Tag: in.Tag, Target: in.Target, Name: in.Name, Body: in.Body, Prerelease: in.Prerelease, Draft: in.Draft}
		s.releases = append(s.releases, rel)
		out := rel.json(s.URL)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
	case "/repos/{owner}/{repo}/releases/{release_id}/assets":
		var id int64
		fmt.Sscan(params["release_id"], &id)
		s.mu.Lock()
		var rel *Release
		for _, x := range s.releases {
			if x.ID == id && x.Repo == repo {
				rel = x
			}
		}
		s.mu.Unlock()
		if rel == nil {
			notFound(w, "https://docs.github.com/rest/releases/assets")
			return
		}
		if r.Method == http.MethodGet {
			s.mu.Lock()
			list := []map[string]any{}
			for _, a := range rel.Assets {
				list = append(list, a.json(s.URL, rel))
			}
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, list)
			return
		}
		s.upload(w, r, rel)
	case "/repos/{owner}/{repo}/releases/assets/{asset_id}":
		var id int64
		fmt.Sscan(params["asset_id"], &id)
		s.mu.Lock()
		deleted := false
		for _, rel := range s.releases {
			for i, a := range rel.Assets {
				if a.ID == id && rel.Repo == repo {
					rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
					deleted = true
					break
				}
			}
		}
		s.mu.Unlock()
		if !deleted {
			notFound(w, "https://docs.github.com/rest/releases/assets#delete-a-release-asset")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		s.t.Errorf("fake GitHub: %s %s is documented but not faked yet", r.Method, path)
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
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

func pageParams(r *http.Request) (page, per int) {
	page, per = 1, 30
	if v := r.URL.Query().Get("page"); v != "" {
		fmt.Sscan(v, &page)
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		fmt.Sscan(v, &per)
	}
	return max(page, 1), max(per, 1)
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
	return map[string]any{"id": rel.ID, "tag_name": rel.Tag, "target_commitish": rel.Target, "name": rel.Name, "body": rel.Body,
		"prerelease": rel.Prerelease, "draft": rel.Draft,
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
