// Package github is the bot's GitHub App client: installation
// authentication (ghinstallation, one cached transport per installation,
// GHES through configurable API and upload URLs), a transport that keeps
// to GitHub's rate limits and retries what is safe to retry, and the REST
// calls the bot makes, one method each. It imports no package of this
// module: what the calls are for (check runs that follow a run, releases,
// status comments) is internal/report's business. The fake server in
// githubtest validates every request against GitHub's OpenAPI
// description.
package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v88/github"
	"golang.org/x/sync/singleflight"
)

// Config configures the App client.
type Config struct {
	AppID      int64
	PrivateKey []byte // PEM
	// APIURL and UploadURL point at GitHub Enterprise Server; empty means
	// github.com.
	APIURL, UploadURL string
	// HTTPClient is the base transport's client; nil means a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	// RetryBackoff is the first delay before a server error is retried
	// (it doubles each time); default 1 s.
	RetryBackoff time.Duration
	// Observer, when set, is told of every exchange with GitHub (metrics:
	// calls by route and status, the rate limit left).
	Observer Observer
}

// App is an authenticated GitHub App.
type App struct {
	cfg     Config
	apps    *ghinstallation.AppsTransport
	base    http.RoundTripper
	mu      sync.Mutex
	clients map[int64]*gh.Client
	perms   permCache
	// asks merges concurrent lookups of one permission or repository.
	asks singleflight.Group
}

// NewApp checks the key and prepares the App transport.
func NewApp(cfg Config) (*App, error) {
	if cfg.AppID == 0 || len(cfg.PrivateKey) == 0 {
		return nil, errors.New("github app: GITHUB_APP_ID and a private key are required")
	}
	base := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		base = cfg.HTTPClient.Transport
	}
	if cfg.Observer != nil {
		// Innermost: the App's JWT calls, installation tokens, the
		// installations' calls and each of their retries pass here.
		base = newObserveTransport(base, cfg.Observer, cfg.APIURL, cfg.UploadURL)
	}
	apps, err := ghinstallation.NewAppsTransport(base, cfg.AppID, cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("github app key: %w", err)
	}
	if cfg.APIURL != "" {
		apps.BaseURL = strings.TrimSuffix(cfg.APIURL, "/")
	}
	return &App{cfg: cfg, apps: apps, base: base, clients: map[int64]*gh.Client{}}, nil
}

// Installation returns the API client of an installation; its token is
// fetched on first use and renewed before it expires.
func (a *App) Installation(id int64) (*gh.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[id]; ok {
		return c, nil
	}
	tr := ghinstallation.NewFromAppsTransport(a.apps, id)
	// An explicit (empty) options object: without it the token request's
	// body is JSON null, which GitHub's OpenAPI description does not allow.
	tr.InstallationTokenOptions = &gh.InstallationTokenOptions{}
	if a.cfg.APIURL != "" {
		tr.BaseURL = strings.TrimSuffix(a.cfg.APIURL, "/")
	}
	lt := newLimitTransport(tr)
	if a.cfg.RetryBackoff > 0 {
		lt.backoff = a.cfg.RetryBackoff
	}
	c, err := a.newClient(&http.Client{Transport: lt, Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	a.clients[id] = c
	return c, nil
}

// newClient is a go-github client on hc, pointed at GitHub Enterprise
// Server when APIURL is set.
func (a *App) newClient(hc *http.Client) (*gh.Client, error) {
	opts := []gh.ClientOptionsFunc{gh.WithHTTPClient(hc)}
	if a.cfg.APIURL != "" {
		upload := a.cfg.UploadURL
		if upload == "" {
			upload = a.cfg.APIURL
		}
		opts = append(opts, gh.WithEnterpriseURLs(a.cfg.APIURL, upload))
	}
	c, err := gh.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	return c, nil
}

// repoClient is installation id's client and repo split into owner and
// name: the prologue of every repository call.
func (a *App) repoClient(id int64, repo string) (*gh.Client, string, string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, "", "", err
	}
	c, err := a.Installation(id)
	if err != nil {
		return nil, "", "", err
	}
	return c, owner, name, nil
}

// uploadClient is installation id's client without an overall timeout:
// uploads of large files take as long as they take (the context bounds
// them).
func (a *App) uploadClient(id int64) (*gh.Client, error) {
	c, err := a.Installation(id)
	if err != nil {
		return nil, err
	}
	u, err := c.Clone(gh.WithTimeout(0))
	if err != nil {
		return nil, fmt.Errorf("github upload client: %w", err)
	}
	return u, nil
}

// MaxSpecSize caps a fetched spec, like the validator's own limit.
const MaxSpecSize = 256 << 10

// FetchFile returns the raw content of path in repo ("owner/name") at the
// exact commit sha, at most MaxSpecSize+1 bytes (so the validator can say
// it is too large).
func (a *App) FetchFile(ctx context.Context, installationID int64, repo, path, sha string) (_ []byte, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return nil, fmt.Errorf("fetch %s: repository %q is not owner/name", path, repo)
	}
	c, err := a.Installation(installationID)
	if err != nil {
		return nil, err
	}
	req, err := c.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/contents/%s?ref=%s", owner, name, path, sha), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/vnd.github.raw")
	resp, err := c.Client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w", path, sha, err)
	}
	defer func() {
		if cerr := resp.Body.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("fetch %s@%s: %w", path, sha, cerr)
		}
	}()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("fetch %s@%s: %w", path, sha, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		// The start of GitHub's message, for the error (what could be read).
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, errors.Join(fmt.Errorf("fetch %s@%s: GitHub answered %s: %s", path, sha, resp.Status, strings.TrimSpace(string(b))), rerr)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s@%s: %w", path, sha, err)
	}
	return b, nil
}

// ErrNotFound is returned when GitHub has no such file.
var ErrNotFound = errors.New("not found on GitHub")
