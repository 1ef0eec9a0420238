// Package webhook is the GitHub App's front door: a Fiber server that
// verifies each delivery's signature over the raw body before anything
// else, records the delivery durably (with the run and job it asks for, in
// one transaction) and only then acknowledges it. GitHub gives a webhook
// ten seconds and does not redeliver on its own, so the handler does no
// slow work: builds run on the queue.
//
// One small file per event decides what a delivery means (push.go, …) as
// a store.Intent; events the bot does not act on are recorded as ignored.
// What needs the GitHub API (pull request files, permissions, commands)
// is deferred to an event job that package resolve carries out on a
// worker: this package links no GitHub client, so the lean receiver
// (cmd/webhook) stays small.
package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/semaphore"

	"github.com/linux-builder/linux-builder/internal/store"
)

// MaxBody is the largest delivery accepted; GitHub caps payloads at 25 MB.
const MaxBody = 25 << 20

// Store is what the receiver reads from the database.
type Store interface {
	// Ready returns nil when the database answers and its schema is
	// current; an error wrapping store.ErrSchemaNotCurrent when it is
	// not migrated (or behind).
	Ready(ctx context.Context) error
	Installations
	// PayloadSeen returns a delivery of the app with the body digest
	// received at or after since under an id other than deliveryID ("" when
	// none).
	PayloadSeen(ctx context.Context, appID int64, digest, deliveryID string, since time.Time) (string, error)
	Run(ctx context.Context, id int64) (*store.Run, error)
	LatestRunAt(ctx context.Context, repo, sha string) (*store.Run, error)
}

// Intaker durably records a delivery and what it asks for (a
// store.Committer: group commit).
type Intaker interface {
	Intake(ctx context.Context, item *store.IntakeItem) (store.IntakeResult, error)
}

// Config configures the receiver.
type Config struct {
	// Secret is the webhook secret; required.
	Secret string
	// Path is where GitHub posts; default /webhook.
	Path string
	// AppID scopes delivery ids (unique per app).
	AppID int64
	// SpecPath is the spec's path in repositories; default linux-build.yaml.
	// An installation's own spec path (store.Installation.SpecPath)
	// takes precedence.
	SpecPath string
	// TrustedProxies are the reverse proxies (addresses, CIDR ranges)
	// whose ProxyHeader is the client's address (Fiber's c.IP()); from
	// anyone else the header is ignored. None: c.IP() is the peer.
	TrustedProxies []string
	ProxyHeader    string
	Store          Store
	Intake         Intaker
	Logger         *slog.Logger
	Now            func() time.Time
	// MaxBody is the largest body accepted (default MaxBody): a larger
	// one is answered 413 before it is read.
	MaxBody int
	// BodyBudget bounds the bytes of request bodies over 256 KiB held in
	// memory at once, signed or not (default DefaultBodyBudget; at least
	// MaxBody); smaller bodies have a 16 MiB budget of their own.
	// A body waits up to BodyWait (default DefaultBodyWait) for room,
	// then is answered 503.
	BodyBudget int64
	BodyWait   time.Duration
	// MaxConns caps the open connections (default DefaultMaxConns).
	MaxConns int
	// ReplayWindow is how long a payload is remembered: the same body
	// under another delivery id within it is recorded as a replay and
	// starts nothing (default DefaultReplayWindow; negative: never).
	ReplayWindow time.Duration
	// LeanMemory releases a connection's read and write buffers between
	// its requests (fasthttp's ReduceMemoryUsage): less memory under many
	// connections for a little more CPU. The lean receiver sets it.
	LeanMemory bool
	// Observer, when set, is told of every request to Path once it is
	// answered (metrics).
	Observer Observer

	installs *installCache
	// bodies and smallBodies are the body budgets (body.go).
	bodies, smallBodies *semaphore.Weighted
	// bufs keeps large bodies' buffers for reuse (bufpool.go).
	bufs *bufPool
}

// proxyHeader is the header c.IP() reads: none without trusted proxies.
func proxyHeader(cfg Config) string {
	if len(cfg.TrustedProxies) == 0 {
		return ""
	}
	if cfg.ProxyHeader == "" {
		return "X-Real-IP"
	}
	return cfg.ProxyHeader
}

// soleClientAddress keeps the proxy's header only when it is one header
// line holding one IP address; otherwise it is removed, and c.IP() is the
// peer (the proxy). Fiber believes the first address of the first line,
// which a client chooses wherever a proxy appends to the header (a comma
// or another line) rather than setting it.
func soleClientAddress(c *fiber.Ctx, header string) {
	h := &c.Request().Header
	vals := h.PeekAll(header)
	if len(vals) == 0 {
		return
	}
	if len(vals) == 1 {
		if _, err := netip.ParseAddr(strings.TrimSpace(string(vals[0]))); err == nil {
			return
		}
	}
	h.Del(header)
}

// New returns the Fiber app serving the webhook, /healthz and /readyz
// (503 while the database is unreachable or its schema not current). It
// refuses to start without a secret: an unsigned endpoint would build
// anyone's spec.
func New(cfg Config) (*fiber.App, error) {
	if cfg.Secret == "" {
		return nil, errors.New("webhook: a webhook secret is required (GITHUB_WEBHOOK_SECRET)")
	}
	if cfg.Store == nil || cfg.Intake == nil {
		return nil, errors.New("webhook: Store and Intake are required")
	}
	if err := cfg.limitDefaults(); err != nil {
		return nil, err
	}
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	cfg.installs = newInstallCache(cfg.Store, installCacheTTL)
	if cfg.Path == "" {
		cfg.Path = "/webhook"
	}
	if cfg.SpecPath == "" {
		cfg.SpecPath = "linux-build.yaml"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	app := fiber.New(fiber.Config{
		// Bodies are streamed: the handler reads them (raw, never
		// decoded) only once their headers pass, within the body budget.
		// BodyLimit is then only what fasthttp reads ahead.
		StreamRequestBody:     true,
		BodyLimit:             cfg.MaxBody,
		DisableStartupMessage: true,
		ReduceMemoryUsage:     cfg.LeanMemory,
		// Headers larger than this are answered 431.
		ReadBufferSize: 4 << 10,
		Concurrency:    cfg.MaxConns,
		// The whole request, headers and body, must arrive within
		// ReadTimeout (a slow sender is cut off); a keep-alive connection
		// idle that long is closed too.
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		// Behind a reverse proxy the client's address is the header the
		// proxy sets, believed only from the proxies named (and only a
		// valid IP; anything else falls back to the peer).
		EnableTrustedProxyCheck: len(cfg.TrustedProxies) > 0,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(cfg),
		EnableIPValidation:      true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			var fe *fiber.Error
			if errors.As(err, &fe) {
				return c.Status(fe.Code).SendString(fe.Message)
			}
			return c.Status(fiber.StatusInternalServerError).SendString("internal error")
		},
	})
	if len(cfg.TrustedProxies) > 0 {
		header := proxyHeader(cfg)
		app.Use(func(c *fiber.Ctx) error {
			soleClientAddress(c, header)
			return c.Next()
		})
	}
	app.Use(recoverPanics(cfg.Logger))
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := cfg.Store.Ready(ctx); err != nil {
			if errors.Is(err, store.ErrSchemaNotCurrent) {
				// Every delivery would fail: say why, for the operator.
				return c.Status(fiber.StatusServiceUnavailable).SendString(err.Error())
			}
			return c.Status(fiber.StatusServiceUnavailable).SendString("database unreachable")
		}
		return c.SendString("ready")
	})
	if cfg.Observer != nil {
		app.Post(cfg.Path, func(c *fiber.Ctx) error { return observed(&cfg, c) })
	} else {
		app.Post(cfg.Path, func(c *fiber.Ctx) error {
			var outcome string
			return receive(&cfg, c, &outcome)
		})
	}
	return app, nil
}

// transientError marks a decision that failed for a reason worth a
// redelivery (the database was unreachable): the webhook answers 503.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }
