package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humafiber"
	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/access"
	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Prefix is where the versioned API lives.
const Prefix = "/api/v1"

// Store is what the API reads and writes in the store.
type Store interface {
	Run(ctx context.Context, id int64) (*store.Run, error)
	ListRunSummaries(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	Steps(ctx context.Context, id int64) ([]store.RunStep, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
	Logs(ctx context.Context, runID, afterID int64, limit int) ([]store.RunLog, error)
	LastLogs(ctx context.Context, runID int64, limit int) ([]store.RunLog, error)
	StartRun(ctx context.Context, r *store.Run, jobs store.Jobs) error
	CancelRun(ctx context.Context, id int64, reason string, jobs store.Jobs) (bool, error)
	TokenByHash(ctx context.Context, secretSHA256 string) (*store.APIToken, error)
	TouchToken(ctx context.Context, id int64, at time.Time) error
	Ready(ctx context.Context) error
}

// Artifacts reads artifacts' bytes from the artifact store, a range at a
// time (artifacts.Store).
type Artifacts interface {
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, artifacts.Object, error)
}

// Generator makes a spec from a description (ai.Generator).
type Generator interface {
	GenerateLogged(ctx context.Context, prompt string, log func(string)) (*ai.Result, error)
}

// Config configures the API.
type Config struct {
	Store Store
	// Jobs queues builds and cancels them, inside the store's
	// transactions (queue.Inserter).
	Jobs store.Jobs
	// Artifacts is the artifact store; nil: downloads answer 503.
	Artifacts Artifacts
	// Generator turns descriptions into specs; nil: {"prompt": …}
	// answers 503.
	Generator Generator
	// PublicURL (PUBLIC_URL, without a trailing slash) makes the links in
	// answers absolute; empty: they are paths.
	PublicURL string
	// MaxGenerations bounds the descriptions turned into specs at once
	// (each holds the model for up to minutes); more are answered 503
	// with Retry-After. Default 2.
	MaxGenerations int
	// Rate is each token's rate limit (API_RATE); the zero Rate is none.
	Rate Rate
	// FailedAuthRate bounds failed authentications per client address
	// (default 5/s, bursts of 20).
	FailedAuthRate Rate
	// MaxBody is the largest request body accepted (default 512 KiB, twice
	// the largest spec); a larger one is answered 413.
	MaxBody int
	// StreamIdle is how long a download may go without its client taking
	// any bytes before the connection is dropped (default 30s). See
	// KeepWriting.
	StreamIdle time.Duration
	// Mount, when set, is called last by Register with the API and the
	// Fiber app, for what another package serves on the same app behind
	// the same tokens (Server-Sent Events, the WebSocket, run pages): use
	// a.Authenticate, a.VisibleRun and a.OpenAPI.
	Mount func(a *API, app *fiber.App)
	// Access, when set, decides who reads which run (the run pages' rule:
	// public repositories' runs for everyone, private ones for people
	// GitHub lets read them, API runs for their token); without it a
	// token reads its own runs and an admin token every run. Changing a
	// run (cancel, rebuild) always needs its own token or an admin's.
	Access *access.Access
	// Session, when set with Access, is the person a request's session
	// cookie signed in (the run pages'): a browser's reads of one build
	// (its state, log, events, artifacts) need no token.
	Session func(c *fiber.Ctx) access.Viewer
	Logger  *slog.Logger
	Now     func() time.Time
}

// API is the REST API; Register puts it on a Fiber app.
type API struct {
	cfg      Config
	tokens   *limiter
	failures *limiter
	// browsers limits the reads run pages make without a token, per
	// person or address (apart from the tokens' buckets).
	browsers *limiter
	touched  *touchCache
	huma     huma.API
	// generating holds a slot per generation in progress.
	generating chan struct{}
}

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Jobs == nil {
		return nil, errors.New("api: Store and Jobs are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 512 << 10
	}
	if cfg.StreamIdle <= 0 {
		cfg.StreamIdle = 30 * time.Second
	}
	if cfg.MaxGenerations <= 0 {
		cfg.MaxGenerations = 2
	}
	if cfg.FailedAuthRate.Limit == 0 {
		cfg.FailedAuthRate = Rate{Limit: 5, Burst: 20}
	}
	return &API{cfg: cfg, tokens: newLimiter(cfg.Rate, cfg.Now), failures: newLimiter(cfg.FailedAuthRate, cfg.Now), browsers: newLimiter(cfg.Rate, cfg.Now),
		touched: &touchCache{last: map[int64]time.Time{}}, generating: make(chan struct{}, cfg.MaxGenerations)}, nil
}

// Register serves the API on app: /api/v1 and its description, and the
// seed's routes. app is the webhook's (one address serves /webhook,
// /api/v1 and the rest); its ReadTimeout bounds how long a request may
// take to arrive, for the API as for the webhook, and its WriteTimeout
// how long a response may take to write — except downloads, which
// instead extend the write deadline as their client takes bytes (see
// KeepWriting), so a large ISO is never cut off while a client that
// stops reading is still dropped.
func (a *API) Register(app *fiber.App) {
	app.Use(Prefix, closeOnRefusedBody, a.Authenticate)
	app.Use("/build", closeOnRefusedBody, a.Authenticate)
	cfg := huma.DefaultConfig("Linux Builder API", "1.0.0")
	cfg.Info.Description = "Build Linux images from linux-build.yaml specs: start builds, follow them, download their artifacts. " +
		"Every operation needs an API token (`bot token create`): `Authorization: Bearer lbt_…`."
	cfg.OpenAPIPath = Prefix + "/openapi"
	cfg.DocsPath = Prefix + "/docs"
	cfg.SchemasPath = Prefix + "/schemas"
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API token from `bot token create` (lbt_…)."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	a.huma = humafiber.New(app, cfg)
	a.registerBuilds()
	a.registerRuns()
	a.registerArtifacts()
	a.registerSpecs()
	a.registerSeed(app)
	if a.cfg.Mount != nil {
		a.cfg.Mount(a, app)
	}
}

// closeOnRefusedBody closes the connection after an answer that may have
// left the request's body unread (413, and 401/429 refusals made before
// the body is looked at): what remains of it must not be read as the
// connection's next request.
func closeOnRefusedBody(c *fiber.Ctx) error {
	err := c.Next()
	switch c.Response().StatusCode() {
	case fiber.StatusRequestEntityTooLarge, fiber.StatusUnauthorized, fiber.StatusTooManyRequests:
		if len(c.Request().Header.Peek(fiber.HeaderContentLength)) > 0 || c.Request().Header.ContentLength() != 0 {
			c.Context().SetConnectionClose()
		}
	}
	return err
}

// OpenAPI is the huma API the operations are registered on, for the
// operations another package adds (Register must have been called).
func (a *API) OpenAPI() huma.API { return a.huma }

// publicPaths are served without a token: the API's description (and
// the JSON Schemas of its bodies, under /schemas/, that answers link to).
var publicPaths = map[string]bool{
	Prefix + "/openapi.json": true, Prefix + "/openapi.yaml": true, Prefix + "/openapi-3.0.json": true,
	Prefix + "/openapi-3.0.yaml": true, Prefix + "/docs": true,
}

// problem writes an RFC 9457 problem (huma's ErrorModel) from a Fiber
// handler.
func problem(c *fiber.Ctx, status int, detail string) error {
	return c.Status(status).JSON(&huma.ErrorModel{Title: httpStatusText(status), Status: status, Detail: detail}, "application/problem+json")
}

// problemFrom writes err as a problem: its own status when it has one,
// else 500 (logged; the client is told nothing of it).
func (a *API) problemFrom(c *fiber.Ctx, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return c.Status(se.GetStatus()).JSON(se, "application/problem+json")
	}
	a.cfg.Logger.ErrorContext(c.UserContext(), "api request failed", "path", c.Path(), "err", err)
	return problem(c, fiber.StatusInternalServerError, "internal error")
}

// internal logs err and returns the 500 the client sees.
func (a *API) internal(ctx context.Context, what string, err error) error {
	a.cfg.Logger.ErrorContext(ctx, "api: "+what, "err", err)
	return huma.Error500InternalServerError("internal error")
}

func httpStatusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("status %d", status)
}
