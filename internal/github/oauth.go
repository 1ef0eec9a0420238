package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OAuth signs people in with GitHub: the App's OAuth client in GitHub's
// web application flow. The user's token is used once, to learn who they
// are, and never kept: what they may read is asked of GitHub with the
// App's own installation token.
type OAuth struct {
	ClientID, ClientSecret string
	// WebURL is GitHub's web host (https://github.com, or a GitHub
	// Enterprise Server's); APIURL its REST API (https://api.github.com/,
	// or https://HOST/api/v3/).
	WebURL, APIURL string
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
}

// WebURLFor is GitHub's web host for apiURL: github.com for the public
// API (or an empty URL), the same host for a GitHub Enterprise Server API
// (https://HOST/api/v3/).
func WebURLFor(apiURL string) string {
	if apiURL == "" {
		return "https://github.com"
	}
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" || u.Host == "api.github.com" {
		return "https://github.com"
	}
	return u.Scheme + "://" + u.Host
}

// maxOAuthBody bounds what is read of GitHub's answers here.
const maxOAuthBody = 1 << 20

// AuthorizeURL is where a browser goes to sign in: GitHub asks the person
// and comes back to redirectURI with a code and state.
func (o *OAuth) AuthorizeURL(state, redirectURI string) string {
	q := url.Values{"client_id": {o.ClientID}, "redirect_uri": {redirectURI}, "state": {state}, "allow_signup": {"false"}}
	return strings.TrimSuffix(o.WebURL, "/") + "/login/oauth/authorize?" + q.Encode()
}

// User is who signed in.
type User struct {
	Login string
	ID    int64
}

// SignIn exchanges the callback's code for a user token and returns who
// it belongs to; the token is dropped.
func (o *OAuth) SignIn(ctx context.Context, code, redirectURI string) (User, error) {
	tok, err := o.exchange(ctx, code, redirectURI)
	if err != nil {
		return User{}, err
	}
	return o.user(ctx, tok)
}

func (o *OAuth) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (o *OAuth) exchange(ctx context.Context, code, redirectURI string) (string, error) {
	form := url.Values{"client_id": {o.ClientID}, "client_secret": {o.ClientSecret}, "code": {code}, "redirect_uri": {redirectURI}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.WebURL, "/")+"/login/oauth/access_token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("oauth token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := o.do(req, &out); err != nil {
		return "", fmt.Errorf("oauth code exchange: %w", err)
	}
	if out.Error != "" {
		// GitHub answers 200 with an error for a bad or used code.
		return "", fmt.Errorf("oauth code exchange: %s: %s", out.Error, out.Description)
	}
	if out.AccessToken == "" {
		return "", errors.New("oauth code exchange: no access token in GitHub's answer")
	}
	return out.AccessToken, nil
}

func (o *OAuth) user(ctx context.Context, token string) (User, error) {
	api := o.APIURL
	if api == "" {
		api = "https://api.github.com/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(api, "/")+"/user", nil)
	if err != nil {
		return User{}, fmt.Errorf("github user request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	var out struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
	}
	if err := o.do(req, &out); err != nil {
		return User{}, fmt.Errorf("github user: %w", err)
	}
	if out.Login == "" || out.ID <= 0 {
		return User{}, errors.New("github user: no login or id in GitHub's answer")
	}
	return User{Login: out.Login, ID: out.ID}, nil
}

// do sends req and decodes a 200's JSON body (bounded) into out.
func (o *OAuth) do(req *http.Request, out any) error {
	resp, err := o.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuthBody))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GitHub answered %s", resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GitHub's answer is not the expected JSON: %w", err)
	}
	return nil
}
