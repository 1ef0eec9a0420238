package githubtest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// GitHub's web sign-in (the OAuth web application flow) is not part of the
// REST API's description: /login/oauth/authorize and
// /login/oauth/access_token are faked here as GitHub documents them
// (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app),
// and GET /user (REST, validated) answers for the user tokens they issue.

// oauthState is the fake's sign-in state.
type oauthState struct {
	clientID, secret string
	// next is who signs in at the next authorize ("" refuses: the person
	// cancels).
	next   User
	codes  map[string]oauthCode // unused codes
	tokens map[string]User      // user tokens → user
	n      int
}

type oauthCode struct {
	user        User
	redirectURI string
}

// User is a GitHub user of the fake.
type User struct {
	Login string
	ID    int64
}

// SetOAuthClient sets the App's OAuth client id and secret.
func (s *Server) SetOAuthClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.clientID, s.oauth.secret = id, secret
}

// SignInAs makes the next visit to the authorize page sign u in (GitHub
// asks the person; the fake's person always agrees). A zero User makes
// the person refuse (GitHub redirects with error=access_denied).
func (s *Server) SignInAs(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.next = u
}

// SetRepoVisibility makes repo (owner/name) readable by installations,
// private or public; a repository never set answers 404.
func (s *Server) SetRepoVisibility(repo string, private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos == nil {
		s.repos = map[string]bool{}
	}
	s.repos[strings.ToLower(repo)] = private
}

// serveOAuth answers the web sign-in pages; false when path is not one.
func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/login/oauth/authorize":
		s.mu.Lock()
		s.calls = append(s.calls, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		s.authorize(w, r)
	case "/login/oauth/access_token":
		s.mu.Lock()
		s.calls = append(s.calls, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		s.accessToken(w, r)
	default:
		return false
	}
	return true
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet || q.Get("client_id") != s.oauth.clientID || s.oauth.clientID == "" || err != nil || !redirect.IsAbs() {
		s.t.Errorf("fake GitHub: bad authorize request %s %s", r.Method, r.URL.RequestURI())
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	if s.oauth.next.Login == "" {
		back.Set("error", "access_denied")
	} else {
		s.oauth.n++
		code := fmt.Sprintf("code%08d", s.oauth.n)
		if s.oauth.codes == nil {
			s.oauth.codes = map[string]oauthCode{}
		}
		s.oauth.codes[code] = oauthCode{user: s.oauth.next, redirectURI: q.Get("redirect_uri")}
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		http.Error(w, "bad token request", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Get("client_id") != s.oauth.clientID || f.Get("client_secret") != s.oauth.secret || s.oauth.clientID == "" {
		writeJSON(w, http.StatusOK, map[string]string{"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."})
		return
	}
	c, ok := s.oauth.codes[f.Get("code")]
	delete(s.oauth.codes, f.Get("code")) // a code is used once, right or wrong
	if !ok || c.redirectURI != f.Get("redirect_uri") {
		writeJSON(w, http.StatusOK, map[string]string{"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
		return
	}
	s.oauth.n++
	tok := fmt.Sprintf("gho_fake%08d", s.oauth.n)
	if s.oauth.tokens == nil {
		s.oauth.tokens = map[string]User{}
	}
	s.oauth.tokens[tok] = c.user
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "token_type": "bearer", "scope": ""})
}

// handleUser fakes GET /user for the user tokens sign-in issued.
func (s *Server) handleUser(c call) {
	tok := strings.TrimPrefix(c.r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	u, ok := s.oauth.tokens[tok]
	s.mu.Unlock()
	if !ok {
		writeJSON(c.w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"login": u.Login, "id": u.ID, "type": "User"})
}

// handleRepo fakes GET /repos/{owner}/{repo}.
func (s *Server) handleRepo(c call) {
	s.mu.Lock()
	private, ok := s.repos[strings.ToLower(c.repo)]
	s.mu.Unlock()
	if !ok {
		notFound(c.w, "https://docs.github.com/rest/repos/repos#get-a-repository")
		return
	}
	vis := "public"
	if private {
		vis = "private"
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"id": 1, "name": c.params["repo"], "full_name": c.repo, "private": private, "visibility": vis})
}
