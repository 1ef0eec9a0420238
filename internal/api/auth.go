package api

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/store"
)

// Caller is the token a request was made with.
type Caller struct {
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
	if token == "" {
		return a.unauthorised(c, "an API token is required: Authorization: Bearer <token> (bot token create)")
	}
	if !wellFormed(token) {
		return a.unauthorised(c, "the API token is not valid")
	}
	hash := HashToken(token)
	t, err := a.cfg.Store.TokenByHash(c.UserContext(), hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return a.unauthorised(c, "the API token is not valid")
	case err != nil:
		a.cfg.Logger.ErrorContext(c.UserContext(), "api: token lookup", "err", err)
		return problem(c, fiber.StatusServiceUnavailable, "the store is unavailable; try again")
	case !hashesEqual(t.SecretSHA256, hash) || !t.Scope.Valid():
		return a.unauthorised(c, "the API token is not valid")
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
	if ok, wait := a.failures.allow("addr:" + c.IP()); !ok {
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
	case !store.RunVisible(r, c.TokenID, c.Scope):
		return nil, buildNotFound()
	}
	return r, nil
}

// buildNotFound is the one answer for an unknown run and a hidden one.
func buildNotFound() error { return huma.Error404NotFound("no such build") }
