package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/access"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Caller is who made a request: an API token, or — on the run-scoped
// reads a browser makes from a run page (see browserReads) — a person
// signed in with GitHub (Login) or nobody (both empty), who read what
// access.Access lets them and change nothing.
type Caller struct {
	// Login is the person signed in with GitHub (no token).
	Login   string
	TokenID int64
	Name    string
	Scope   store.Scope
}

type callerKey struct{}

// CallerFrom is the caller Authenticate put in ctx (nil when none).
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// WithCaller returns ctx carrying c (for tests and other packages'
// handlers).
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// need returns a 403 problem unless the request's token has scope.
func need(ctx context.Context, scope store.Scope) (*Caller, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return nil, huma.Error401Unauthorized("an API token is required")
	}
	if !c.Scope.Allows(scope) {
		return nil, huma.Error403Forbidden("this needs a token with scope " + string(scope) + "; the token's scope is " + string(c.Scope))
	}
	return c, nil
}

// Authenticate is the Fiber middleware that requires a live API token
// (Authorization: Bearer lbt_…) on every path but the API's description,
// and applies the token's rate limit. A missing, malformed, unknown or
// revoked token is answered 401 with WWW-Authenticate: Bearer, and
// failures are themselves rate-limited per client address; a token over
// its rate is answered 429 with Retry-After. The caller travels in the
// request's user context (CallerFrom).
func (a *API) Authenticate(c *fiber.Ctx) error {
	if publicPaths[c.Path()] || strings.HasPrefix(c.Path(), Prefix+"/schemas/") {
		return c.Next()
	}
	token := bearer(c.Get(fiber.HeaderAuthorization))
	if token == "" && c.Get(fiber.HeaderAuthorization) == "" && a.browserRead(c) {
		return a.asBrowser(c)
	}
	if token == "" {
		return a.unauthorised(c, "an API token is required: Authorization: Bearer <token> (bot token create)")
	}
	t, err := a.liveToken(c.UserContext(), token)
	switch {
	case errors.Is(err, errTokenInvalid):
		return a.unauthorised(c, "the API token is not valid")
	case err != nil:
		a.cfg.Logger.ErrorContext(c.UserContext(), "api: token lookup", "err", err)
		return problem(c, fiber.StatusServiceUnavailable, "the store is unavailable; try again")
	}
	if ok, wait := a.tokens.allow("token:" + strconv.FormatInt(t.ID, 10)); !ok {
		c.Set(fiber.HeaderRetryAfter, retryAfter(wait))
		return problem(c, fiber.StatusTooManyRequests, "this token's rate limit is exceeded (API_RATE "+a.cfg.Rate.String()+")")
	}
	a.touch(c.UserContext(), t.ID)
	caller := &Caller{TokenID: t.ID, Name: t.Name, Scope: t.Scope}
	c.SetUserContext(WithCaller(c.UserContext(), caller))
	return c.Next()
}

// unauthorised answers 401, or 429 when the client address has failed
// too often (a bound on the lookups a guesser makes us do).
func (a *API) unauthorised(c *fiber.Ctx, detail string) error {
	if ok, wait := a.failures.allow("addr:" + addrKey(c.IP())); !ok {
		c.Set(fiber.HeaderRetryAfter, retryAfter(wait))
		return problem(c, fiber.StatusTooManyRequests, "too many failed authentications from this address")
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="linux-builder"`)
	return problem(c, fiber.StatusUnauthorized, detail)
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// touchCache remembers when each token's last use was recorded: it is
// written at most once a minute per token.
type touchCache struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

func (a *API) touch(ctx context.Context, id int64) {
	now := a.cfg.Now()
	a.touched.mu.Lock()
	if t, ok := a.touched.last[id]; ok && now.Sub(t) < time.Minute {
		a.touched.mu.Unlock()
		return
	}
	if len(a.touched.last) >= maxBuckets {
		clear(a.touched.last)
	}
	a.touched.last[id] = now
	a.touched.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := a.cfg.Store.TouchToken(ctx, id, now); err != nil {
		a.cfg.Logger.WarnContext(ctx, "api: record token use", "token", id, "err", err)
	}
}

// VisibleRun returns run id when the caller may see it. An unknown run
// and one the caller may not see are the same 404, so ids reveal nothing.
func (a *API) VisibleRun(ctx context.Context, id int64) (*store.Run, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return nil, huma.Error401Unauthorized("an API token is required")
	}
	r, err := a.cfg.Store.Run(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, buildNotFound()
	case err != nil:
		return nil, a.internal(ctx, "read run", err)
	case !a.canRead(ctx, c, r):
		return nil, buildNotFound()
	}
	return r, nil
}

// canRead is the one rule of who reads a run (access.Access) when the
// API is configured with it; otherwise a token reads its own runs (and an
// admin token every run).
func (a *API) canRead(ctx context.Context, c *Caller, r *store.Run) bool {
	if a.cfg.Access == nil {
		return c.TokenID != 0 && store.RunVisible(r, c.TokenID, c.Scope)
	}
	return a.cfg.Access.CanRead(ctx, access.Viewer{Login: c.Login, TokenID: c.TokenID, Admin: c.TokenID != 0 && c.Scope == store.ScopeAdmin}, r)
}

// OwnedRun is run id when the caller may change it (cancel, rebuild): a
// run its own token started, or any run with an admin token. Reading a
// run (a public repository's, say) is not enough to act on it.
func (a *API) OwnedRun(ctx context.Context, id int64) (*store.Run, error) {
	r, err := a.VisibleRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if c := CallerFrom(ctx); c.TokenID == 0 || !store.RunVisible(r, c.TokenID, c.Scope) {
		return nil, huma.Error403Forbidden("only the token that started this build, or an admin token, may change it")
	}
	return r, nil
}

// browserReads are the reads a run page makes from the browser, with its
// session cookie and no token: a build's state, its log, its events and
// its artifacts. Nothing else is served without a token, and nothing
// these routes do changes anything (GET and HEAD only).
var browserReads = regexp.MustCompile(`^` + regexp.QuoteMeta(Prefix) + `/builds/[0-9]{1,19}(/logs|/events|/artifacts/[^/]{1,255})?$`)

func (a *API) browserRead(c *fiber.Ctx) bool {
	if a.cfg.Access == nil || a.cfg.Session == nil {
		return false
	}
	m := c.Method()
	return (m == fiber.MethodGet || m == fiber.MethodHead) && browserReads.MatchString(c.Path())
}

// asBrowser serves a browser's read as its session's person (or as
// nobody), within a rate limit per person or address.
func (a *API) asBrowser(c *fiber.Ctx) error {
	v := a.cfg.Session(c)
	key := "addr:" + addrKey(c.IP())
	if v.SignedIn() {
		key = "user:" + v.Login
	}
	// Browsers have a limiter of their own: a flood of addresses fills
	// (and so prunes) its buckets, never the tokens'.
	if ok, wait := a.browsers.allow(key); !ok {
		c.Set(fiber.HeaderRetryAfter, retryAfter(wait))
		return problem(c, fiber.StatusTooManyRequests, "too many requests; try again later")
	}
	c.SetUserContext(WithCaller(c.UserContext(), &Caller{Login: v.Login, Scope: store.ScopeRead}))
	return c.Next()
}

// buildNotFound is the one answer for an unknown run and a hidden one.
func buildNotFound() error { return huma.Error404NotFound("no such build") }

// ViewerOf is who a request outside the API's routes (the WebSocket) is:
// the holder of its bearer token, or else the person session(c) says (the
// run pages' cookie; nobody without one). A token that is not a live
// token is an error (and counts against the address's failed attempts).
func (a *API) ViewerOf(c *fiber.Ctx, session func(*fiber.Ctx) access.Viewer) (access.Viewer, error) {
	raw := c.Get(fiber.HeaderAuthorization)
	if raw == "" {
		if session == nil {
			return access.Viewer{}, nil
		}
		return session(c), nil
	}
	fail := func() (access.Viewer, error) {
		if ok, _ := a.failures.allow("addr:" + addrKey(c.IP())); !ok {
			return access.Viewer{}, errors.New("too many failed authentications from this address")
		}
		return access.Viewer{}, errors.New("the API token is not valid")
	}
	t, err := a.liveToken(c.UserContext(), bearer(raw))
	switch {
	case errors.Is(err, errTokenInvalid):
		return fail()
	case err != nil:
		return access.Viewer{}, err
	}
	return access.Viewer{TokenID: t.ID, Admin: t.Scope == store.ScopeAdmin}, nil
}

// OwnerKey is who a live stream or socket counts against (the live hub's
// cap per owner): the token, else the signed-in person, else the client's
// address (an IPv6 /64).
func OwnerKey(ip string, tokenID int64, login string) string {
	switch {
	case tokenID != 0:
		return "token:" + strconv.FormatInt(tokenID, 10)
	case login != "":
		return "user:" + login
	}
	return "addr:" + addrKey(ip)
}

// addrKey is a client address as a rate limit's key: an IPv4 address, or
// an IPv6 address's /64 (one host has a whole /64 to choose from).
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// TokenLive reports whether the Authorization header header still carries
// a live token (not revoked): long-lived connections ask it again.
func (a *API) TokenLive(ctx context.Context, header string) bool {
	_, err := a.liveToken(ctx, bearer(header))
	return err == nil
}

// errTokenInvalid is a token that is no live token: malformed, unknown,
// revoked or of no scope.
var errTokenInvalid = errors.New("the API token is not valid")

// liveToken is token's row when it is a live token; errTokenInvalid when
// it is not, another error when the store cannot tell.
func (a *API) liveToken(ctx context.Context, token string) (*store.APIToken, error) {
	if token == "" || !wellFormed(token) {
		return nil, errTokenInvalid
	}
	hash := HashToken(token)
	t, err := a.cfg.Store.TokenByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errTokenInvalid
	case err != nil:
		return nil, fmt.Errorf("token lookup: %w", err)
	case !hashesEqual(t.SecretSHA256, hash) || !t.Scope.Valid():
		return nil, errTokenInvalid
	}
	return t, nil
}
