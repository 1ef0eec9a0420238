package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/access"
	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/live"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/web"
)

// serveFace puts the web face on app (the webhook's, so one address serves
// /webhook and all of it): the REST API with the seed's routes (API_RATE,
// PUBLIC_URL, OLLAMA_URL, OLLAMA_MODEL; the artifact store of
// --artifact-store), the run events (/api/v1/builds/{id}/events, /ws), and
// the run pages with sign-in (newWeb). One rule decides who reads which
// run for all of them (access.Access). It returns what stops the live
// streams and releases the artifact store, to call before the server
// shuts down.
func serveFace(ctx context.Context, app *fiber.App, db *store.DB, jobs store.Jobs, gh *github.App, apiURL, dataDir, artifactStore string, maxConns int) (func(), error) {
	rate, err := api.ParseRate(os.Getenv("API_RATE"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	public := strings.TrimSuffix(os.Getenv("PUBLIC_URL"), "/")
	as, err := openArtifacts(ctx, artifactStore, dataDir)
	if err != nil {
		return nil, err
	}
	gen, err := ai.NewGenerator(&ai.Client{URL: os.Getenv("OLLAMA_URL"), Model: os.Getenv("OLLAMA_MODEL")}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		as.Close()
		return nil, err
	}
	rules := &access.Access{GitHub: gh, TokenOf: apiTokenOf, Logger: slog.Default()}
	pages, err := newWeb(db, rules, apiURL)
	if err != nil {
		as.Close()
		return nil, err
	}
	artifactURL := func(id int64, name string) string {
		return fmt.Sprintf("%s%s/builds/%d/artifacts/%s", public, api.Prefix, id, url.PathEscape(name))
	}
	hub, err := live.NewHub(live.Options{Store: db, Logger: slog.Default(), ArtifactURL: artifactURL, MaxSubscribers: liveCap(maxConns)})
	if err != nil {
		as.Close()
		return nil, err
	}
	a, err := api.New(api.Config{Store: db, Jobs: jobs, Artifacts: as, Generator: gen, Rate: rate, PublicURL: public,
		Access: rules, Session: pages.Viewer, Logger: slog.Default(),
		Mount: func(a *api.API, app *fiber.App) { mountLive(a, app, hub, db, rules, pages, public) }})
	if err != nil {
		hub.Close()
		as.Close()
		return nil, err
	}
	a.Register(app)
	pages.Register(app)
	// Open streams end when the server stops (they would hold up its
	// shutdown otherwise).
	go func() {
		<-ctx.Done()
		hub.Close()
	}()
	return func() { hub.Close(); as.Close() }, nil
}

// apiTokenOf is the API token that started r (0: none).
func apiTokenOf(r *store.Run) int64 {
	if r.APITokenID == nil {
		return 0
	}
	return *r.APITokenID
}

// liveCap is how many live streams and sockets the hub holds at once: at
// most half the server's connections (--webhook-max-conns), since each SSE
// stream holds a connection for its whole life. Many callers filling the
// hub then still leave room for GitHub's deliveries and everything else.
func liveCap(maxConns int) int {
	if maxConns <= 0 {
		return live.DefaultMaxSubscribers
	}
	return min(max(maxConns/2, 1), live.DefaultMaxSubscribers)
}

// mountLive serves a run's Server-Sent Events under the API (behind its
// tokens, or a run page's session cookie) and the WebSocket at /ws, both
// with the API's rule of who reads which run.
func mountLive(a *api.API, app *fiber.App, hub *live.Hub, db *store.DB, rules *access.Access, pages *web.Web, public string) {
	sse, err := hub.SSE(live.SSEOptions{Authorize: func(c *fiber.Ctx, id int64) error {
		if _, err := a.VisibleRun(c.UserContext(), id); err != nil {
			return fmt.Errorf("%w: %w", live.ErrNotVisible, err)
		}
		return nil
	}, Owner: func(c *fiber.Ctx) string {
		caller := api.CallerFrom(c.UserContext())
		if caller == nil {
			return api.OwnerKey(c.IP(), 0, "")
		}
		return api.OwnerKey(c.IP(), caller.TokenID, caller.Login)
	}})
	if err != nil {
		panic("live SSE: " + err.Error()) // only a nil Authorize fails
	}
	app.Get(api.Prefix+"/builds/:id/events", sse)
	var origins []string
	if public != "" {
		origins = []string{public}
	}
	ws, err := hub.WebSocket(live.WSOptions{AllowedOrigins: origins, Authorize: func(c *fiber.Ctx) (func(int64) bool, error) {
		// A token or a run page's session: a socket hears of every run's
		// changes, so nobody's is refused (401).
		header := c.Get(fiber.HeaderAuthorization)
		v, err := a.ViewerOf(c, pages.Viewer)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", live.ErrNotVisible, err)
		}
		var still func(context.Context) bool
		switch {
		case header != "":
			still = func(ctx context.Context) bool { return a.TokenLive(ctx, header) }
		case v.SignedIn():
			secret := v.Session
			still = func(ctx context.Context) bool { _, err := db.Session(ctx, secret, time.Now()); return err == nil }
		default:
			return nil, fmt.Errorf("%w: the WebSocket needs an API token or a signed-in session", live.ErrNotVisible)
		}
		c.Locals(wsOwnerLocal, api.OwnerKey(c.IP(), v.TokenID, v.Login))
		return newRunSight(db, rules, v, still).canSee, nil
	}, Owner: func(c *fiber.Ctx) string {
		owner, _ := c.Locals(wsOwnerLocal).(string)
		return owner
	}})
	if err != nil {
		panic("live WebSocket: " + err.Error())
	}
	app.Get("/ws", ws)
}

// wsOwnerLocal holds, between the WebSocket's Authorize and Owner hooks,
// whom the socket counts against (api.OwnerKey).
const wsOwnerLocal = "bot.wsOwner"

// runSight is one WebSocket connection's answers to "may it see run N",
// remembered for a minute (at most 1,024 runs): the socket asks for every
// message, and a run's visibility needs the store and GitHub. Every
// minute it also asks whether the socket's token or session still is
// (still): once revoked or signed out, the socket hears of nothing more.
type runSight struct {
	db      *store.DB
	rules   *access.Access
	v       access.Viewer
	still   func(context.Context) bool
	mu      sync.Mutex
	seen    map[int64]sightEntry
	checked time.Time
	revoked bool
}

type sightEntry struct {
	ok bool
	at time.Time
}

func newRunSight(db *store.DB, rules *access.Access, v access.Viewer, still func(context.Context) bool) *runSight {
	return &runSight{db: db, rules: rules, v: v, still: still, seen: map[int64]sightEntry{}, checked: time.Now()}
}

func (s *runSight) canSee(id int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	if !s.revoked && time.Since(s.checked) >= time.Minute {
		s.checked = time.Now()
		s.mu.Unlock()
		live := s.still(ctx)
		s.mu.Lock()
		if !live {
			s.revoked = true
		}
	}
	if s.revoked {
		s.mu.Unlock()
		return false
	}
	if e, ok := s.seen[id]; ok && time.Since(e.at) < time.Minute {
		s.mu.Unlock()
		return e.ok
	}
	s.mu.Unlock()
	r, err := s.db.Run(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false // not remembered: the store may answer next time
	}
	ok := err == nil && s.rules.CanRead(ctx, s.v, r)
	s.mu.Lock()
	if len(s.seen) >= 1024 {
		clear(s.seen)
	}
	s.seen[id] = sightEntry{ok, time.Now()}
	s.mu.Unlock()
	return ok
}
