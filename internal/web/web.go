// Package web serves the run pages: a runs list and a page per run (its
// steps with durations, a live tail of its log, its warnings and the
// spec's diagnostics at their lines, its artifacts, links to the commit,
// pull request, check run and release), rendered on the server with
// html/template and usable without JavaScript; a small script follows a
// running build over the API's Server-Sent Events. People sign in with
// GitHub (the App's OAuth client); who may read which run is decided by
// access.Access. The check run's details_url is a run page.
package web

import (
	"context"
	"crypto/cipher"
	"embed"
	"errors"
	"fmt"
	"github.com/linux-builder/linux-builder/internal/access"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Store is what the pages read and the sign-in writes.
type Store interface {
	Run(ctx context.Context, id int64) (*store.Run, error)
	ListRunSummaries(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Steps(ctx context.Context, id int64) ([]store.RunStep, error)
	LastLogs(ctx context.Context, runID int64, limit int) ([]store.RunLog, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
	CreateSession(ctx context.Context, s *store.WebSession) error
	Session(ctx context.Context, secret string, now time.Time) (*store.WebSession, error)
	DeleteSession(ctx context.Context, secret string) error
}

// Config configures the pages.
type Config struct {
	Store  Store
	Access *access.Access
	// OAuth signs people in; nil: no sign-in (only public repositories'
	// runs are shown, and admins' tokens read the API).
	OAuth *github.OAuth
	// PublicURL is the server's address as browsers reach it
	// (https://bot.example.com): the OAuth redirect, and Secure cookies
	// when it is https.
	PublicURL string
	// GitHubURL is GitHub's web host for links to commits, pull requests
	// and check runs (default https://github.com).
	GitHubURL string
	// ArtifactURL is where a run's artifact downloads (the API's route);
	// nil: /api/v1/builds/<id>/artifacts/<name>.
	ArtifactURL func(runID int64, name string) string
	// EventsURL is the run's Server-Sent Events stream the page follows;
	// nil: /api/v1/builds/<id>/events.
	EventsURL func(runID int64) string
	// CursorSecret keys the runs list's sealed page links (the webhook
	// secret: every replica opens every replica's links); empty: a random
	// key per process.
	CursorSecret []byte
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Web serves the pages.
type Web struct {
	cfg    Config
	cursor cipher.AEAD
	tmpl   map[string]*template.Template
	secure bool
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Web, error) {
	if cfg.Store == nil || cfg.Access == nil {
		return nil, errors.New("web: Store and Access are required")
	}
	if cfg.OAuth != nil {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("web: sign-in needs PUBLIC_URL (the server's address, such as https://bot.example.com), not %q", cfg.PublicURL)
		}
		if cfg.OAuth.ClientID == "" || cfg.OAuth.ClientSecret == "" {
			return nil, errors.New("web: sign-in needs the App's OAuth client id and secret (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET)")
		}
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://github.com"
	}
	cfg.GitHubURL = strings.TrimSuffix(cfg.GitHubURL, "/")
	if cfg.ArtifactURL == nil {
		cfg.ArtifactURL = func(id int64, name string) string {
			return fmt.Sprintf("/api/v1/builds/%d/artifacts/%s", id, url.PathEscape(name))
		}
	}
	if cfg.EventsURL == nil {
		cfg.EventsURL = func(id int64) string { return fmt.Sprintf("/api/v1/builds/%d/events", id) }
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	aead, err := newCursorAEAD(cfg.CursorSecret)
	if err != nil {
		return nil, err
	}
	w := &Web{cfg: cfg, cursor: aead, tmpl: map[string]*template.Template{}, secure: strings.HasPrefix(cfg.PublicURL, "https://")}
	for _, page := range []string{"runs.html", "run.html", "message.html"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+page)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", page, err)
		}
		w.tmpl[page] = t
	}
	return w, nil
}

// Register adds the pages to r: /runs, /runs/:id, the sign-in routes and
// the static files.
func (w *Web) Register(r fiber.Router) {
	static, _ := fs.Sub(assets, "static")
	r.Get("/static/:name", func(c *fiber.Ctx) error { return serveStatic(c, static) })
	r.Get("/runs", w.headers, w.runs)
	r.Get("/runs/:id", w.headers, w.run)
	r.Get("/auth/login", w.headers, w.login)
	r.Get("/auth/callback", w.headers, w.callback)
	r.Post("/auth/logout", w.headers, w.logout)
}

// headers are every page's: a strict content security policy (no inline
// script or style; the page's script and style are files of ours), no
// framing, no sniffing, no caching of what may be private.
func (w *Web) headers(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Cache-Control", "no-store")
	return c.Next()
}

func serveStatic(c *fiber.Ctx, static fs.FS) error {
	name := c.Params("name")
	var ctype string
	switch {
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	default:
		return fiber.ErrNotFound
	}
	b, err := fs.ReadFile(static, name)
	if err != nil {
		return fiber.ErrNotFound
	}
	c.Set("Content-Type", ctype)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Cache-Control", "public, max-age=300")
	return c.Send(b)
}

// sessionCookie is the session cookie's name: __Host- (Secure, the
// whole site, this host only) when the server is reached over https.
func (w *Web) sessionCookie() string {
	if w.secure {
		return "__Host-lb_session"
	}
	return "lb_session"
}

// Viewer is who the request's session cookie signed in (the zero Viewer
// when none). The API adds its token to it.
func (w *Web) Viewer(c *fiber.Ctx) access.Viewer {
	secret := c.Cookies(w.sessionCookie())
	if secret == "" || len(secret) > 128 {
		return access.Viewer{}
	}
	s, err := w.cfg.Store.Session(c.UserContext(), secret, w.cfg.Now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			w.cfg.Logger.Warn("web: read a session", "err", err)
		}
		return access.Viewer{}
	}
	return access.Viewer{Login: s.Login, UserID: s.UserID, CSRF: s.CSRF, Session: secret}
}

// CanRead reports whether v may read r (see access.Access).
func (w *Web) CanRead(ctx context.Context, v access.Viewer, r *store.Run) bool {
	return w.cfg.Access.CanRead(ctx, v, r)
}

// render writes page with data, status code.
func (w *Web) render(c *fiber.Ctx, code int, page string, data any) error {
	var b strings.Builder
	if err := w.tmpl[page].Execute(&b, data); err != nil {
		w.cfg.Logger.Error("web: render", "page", page, "err", err)
		return c.Status(fiber.StatusInternalServerError).SendString("internal error")
	}
	c.Set("Content-Type", "text/html; charset=utf-8")
	return c.Status(code).SendString(b.String())
}

// message is a page that only says something (not found, an error).
type message struct {
	page
	Title, Text string
}

func (w *Web) message(c *fiber.Ctx, v access.Viewer, code int, title, text string) error {
	return w.render(c, code, "message.html", message{page: w.page(v, c), Title: title, Text: text})
}

// page is what every page's layout shows: who is signed in, the sign-in
// link, the sign-out form's token.
type page struct {
	Viewer  access.Viewer
	SignIn  string // the sign-in link ("" when sign-in is off)
	HasAuth bool
}

func (w *Web) page(v access.Viewer, c *fiber.Ctx) page {
	p := page{Viewer: v, HasAuth: w.cfg.OAuth != nil}
	if p.HasAuth && !v.SignedIn() {
		p.SignIn = "/auth/login?" + url.Values{"next": {string(c.Request().URI().RequestURI())}}.Encode()
	}
	return p
}
