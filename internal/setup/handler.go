package setup

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
)

// Paths of the flow.
const (
	Path         = "/setup"
	CallbackPath = "/setup/callback"
)

// Defaults of Config.
const (
	DefaultStateTTL  = 30 * time.Minute
	DefaultMaxStates = 256
	// DefaultConvertTimeout bounds the conversion call.
	DefaultConvertTimeout = 20 * time.Second
)

//go:embed page.html
var pageFS embed.FS

// Converter turns a manifest code into the App (github.ConvertManifest).
type Converter func(ctx context.Context, code string) (*github.ManifestApp, error)

// Config configures the setup handler.
type Config struct {
	// App is app.yml, parsed (ParseAppFile).
	App *AppFile
	// PublicURL is where GitHub reaches the server (PUBLIC_URL): the
	// App's URL, webhook URL and OAuth callback are under it.
	PublicURL string
	// SetupURL is where the browser reaches this handler, for GitHub's
	// redirect back; default PublicURL. The state cookie is Secure when
	// it is https.
	SetupURL string
	// WebhookPath is the webhook's path (WEBHOOK_PATH); default /webhook.
	WebhookPath string
	// GitHub is where the App is made (GitHubFrom).
	GitHub GitHub
	// Output is where the credentials are written.
	Output Output
	// Token must be given to open /setup (?token=); at least 16
	// characters.
	Token string
	// Disabled answers 404 to every request: the App is configured and
	// SETUP_ENABLED is not set.
	Disabled bool
	// Convert converts codes; default github.ConvertManifest on
	// GitHub.APIURL within ConvertTimeout.
	Convert        Converter
	ConvertTimeout time.Duration
	StateTTL       time.Duration
	MaxStates      int
	Logger         *slog.Logger
	Now            func() time.Time
}

// Handler serves /setup and /setup/callback.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	page   *template.Template
	states *states
	// busy serialises conversions: two callbacks never race on the files.
	busy sync.Mutex
	// done is closed when an App was made and its credentials written;
	// the flow then answers 410 until the process restarts.
	done     chan struct{}
	doneOnce sync.Once
	made     atomic.Bool
}

// New checks cfg and parses the page once.
func New(cfg Config) (*Handler, error) {
	if cfg.App == nil {
		return nil, errors.New("setup: app.yml is required")
	}
	var err error
	if cfg.PublicURL, err = BaseURL("PUBLIC_URL", cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if cfg.SetupURL == "" {
		cfg.SetupURL = cfg.PublicURL
	}
	if cfg.SetupURL, err = BaseURL("the setup URL", cfg.SetupURL); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if cfg.WebhookPath == "" {
		cfg.WebhookPath = "/webhook"
	}
	if cfg.WebhookPath[0] != '/' || !envValue.MatchString(cfg.WebhookPath) {
		return nil, fmt.Errorf("setup: webhook path %q: want an absolute path such as /webhook", cfg.WebhookPath)
	}
	if cfg.GitHub.WebURL == "" || cfg.GitHub.APIURL == "" {
		return nil, errors.New("setup: GitHub's web and API URLs are required (GitHubFrom)")
	}
	if cfg.Output.Env == "" {
		return nil, errors.New("setup: the output file is required (NewOutput)")
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("setup: a token of at least 16 characters is required to open /setup")
	}
	if cfg.ConvertTimeout <= 0 {
		cfg.ConvertTimeout = DefaultConvertTimeout
	}
	if cfg.Convert == nil {
		client := &http.Client{Timeout: cfg.ConvertTimeout}
		api := cfg.GitHub.APIURL
		cfg.Convert = func(ctx context.Context, code string) (*github.ManifestApp, error) {
			return github.ConvertManifest(ctx, client, api, code)
		}
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.MaxStates <= 0 {
		cfg.MaxStates = DefaultMaxStates
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	page, err := template.ParseFS(pageFS, "page.html")
	if err != nil {
		return nil, fmt.Errorf("setup: page template: %w", err)
	}
	h := &Handler{cfg: cfg, page: page, states: newStates(cfg.MaxStates, cfg.StateTTL, cfg.Now), done: make(chan struct{})}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET "+Path, h.start)
	h.mux.HandleFunc("GET "+CallbackPath, h.callback)
	return h, nil
}

// Done is closed once an App was created and its credentials written.
func (h *Handler) Done() <-chan struct{} { return h.done }

// ServeHTTP serves the flow; 404 for everything when disabled.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Disabled {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	// The pages carry a state and a token: not cached, not framed, and
	// the token never leaves in a Referer.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' "+h.cfg.GitHub.WebURL)
	h.mux.ServeHTTP(w, r)
}

// cookie names the state cookie: __Host- when Secure, so no other path or
// subdomain can set it.
func (h *Handler) cookie() (name, path string, secure bool) {
	if h.secure() {
		return "__Host-lb_setup_state", "/", true
	}
	return "lb_setup_state", Path, false
}

func (h *Handler) secure() bool { return len(h.cfg.SetupURL) > 8 && h.cfg.SetupURL[:8] == "https://" }

// view is what the page shows: an error, the start form or the result.
type view struct {
	Error string
	Start *startView
	Done  *doneView
}

type startView struct {
	WebURL, PublicURL, Output, Org, Action, Path, Token string
	Manifest                                            Manifest
	ManifestJSON                                        string
}

type doneView struct {
	ID                                  int64
	Slug, HTMLURL, InstallURL, Env, PEM string
}

func (h *Handler) render(w http.ResponseWriter, code int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := h.page.ExecuteTemplate(w, "page", v); err != nil {
		h.cfg.Logger.Error("setup page", logging.KeyErr, err)
	}
}

func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	h.render(w, code, view{Error: msg})
}

// start serves the form: GET /setup?token=…[&org=…][&name=…].
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	if h.made.Load() {
		h.fail(w, http.StatusGone, "A GitHub App was already created by this process; restart it to create another.")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("token")), []byte(h.cfg.Token)) != 1 {
		h.fail(w, http.StatusForbidden, "Open the setup link with its token (bot setup prints it; bot serve takes SETUP_TOKEN).")
		return
	}
	org, name := q.Get("org"), q.Get("name")
	if org != "" && !validOrg(org) {
		h.fail(w, http.StatusBadRequest, "org: an organisation login is letters, digits and single hyphens, at most 39 characters.")
		return
	}
	if name != "" && !appName.MatchString(name) {
		h.fail(w, http.StatusBadRequest, "name: an App name is 1 to 34 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.")
		return
	}
	if err := h.cfg.Output.check(); err != nil {
		h.fail(w, http.StatusConflict, err.Error())
		return
	}
	m := h.cfg.App.Build(h.cfg.PublicURL, h.cfg.SetupURL, h.cfg.WebhookPath, name)
	js, err := json.Marshal(m)
	if err != nil {
		h.cfg.Logger.Error("setup manifest", logging.KeyErr, err)
		h.fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	state, err := h.states.issue()
	if err != nil {
		h.cfg.Logger.Error("setup state", logging.KeyErr, err)
		h.fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	cname, cpath, secure := h.cookie()
	http.SetCookie(w, &http.Cookie{Name: cname, Value: state, Path: cpath, MaxAge: int(h.cfg.StateTTL / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	h.render(w, http.StatusOK, view{Start: &startView{WebURL: h.cfg.GitHub.WebURL, PublicURL: h.cfg.PublicURL, Output: h.cfg.Output.Env,
		Org: org, Action: h.cfg.GitHub.newAppURL(org, state), Path: Path, Token: h.cfg.Token, Manifest: m, ManifestJSON: string(js)}})
}
