package live

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// WSOptions configure the WebSocket handler.
type WSOptions struct {
	// Authorize runs before the upgrade, with the request (its cookie or
	// token): it returns which runs the connection may see — asked once
	// per message, in the connection's own goroutine, so it may consult a
	// cache but should not block long — or an error: one wrapping
	// ErrNotVisible is answered 401, another 500. Required.
	Authorize func(c *fiber.Ctx) (canSee func(runID int64) bool, err error)
	// AllowedOrigins are the origins ("https://host[:port]") allowed to
	// open the socket from a browser besides the server's own host; a
	// request with any other Origin header is refused (403): a page of
	// another site could otherwise read what its visitor may see.
	// Requests without an Origin (not from a browser) are allowed.
	AllowedOrigins []string
	// WriteTimeout bounds each write (default 10 s); PingInterval is how
	// often the server pings (default 30 s): a client that answers no
	// ping within two intervals is cut off.
	WriteTimeout, PingInterval time.Duration
	// Owner names who the request is for the per-owner cap
	// (Options.MaxPerOwner), asked after Authorize: a token, a person.
	// nil or "": the client's address.
	Owner func(c *fiber.Ctx) string
}

const (
	wsCanSeeKey  = "live.canSee"
	wsOwnerKey   = "live.owner"
	wsReadLimit  = 4 << 10
	wsCloseAfter = time.Second
)

// WebSocket returns the handler of GET /ws: a message (BuildMessage, the
// seed's {buildId, status, artifacts} plus step) for every step change
// and completion of every run the connection may see. Clients send
// nothing (what they send is read and discarded, at most 4 KiB a
// message).
func (h *Hub) WebSocket(opt WSOptions) (fiber.Handler, error) {
	if opt.Authorize == nil {
		return nil, errors.New("live: WSOptions.Authorize is required (runs of private repositories are private)")
	}
	allowed := map[string]bool{}
	for _, o := range opt.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, errors.New("live: allowed origin " + o + ": want scheme://host[:port]")
		}
		allowed[u.Scheme+"://"+strings.ToLower(u.Host)] = true
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = 30 * time.Second
	}
	upgrade := websocket.New(func(c *websocket.Conn) { h.serveWS(c, &opt) }, websocket.Config{
		// The Origin is checked before (originOK), with the host.
		Origins:          []string{"*"},
		HandshakeTimeout: 10 * time.Second,
	})
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return c.Status(fiber.StatusUpgradeRequired).JSON(fiber.Map{"error": "a WebSocket upgrade is required"})
		}
		if !originOK(c, allowed) {
			return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "cross-site WebSocket refused: origin not allowed"})
		}
		canSee, err := opt.Authorize(c)
		if err != nil {
			if errors.Is(err, ErrNotVisible) {
				return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "sign in or send a token"})
			}
			h.log.ErrorContext(c.UserContext(), "live: authorize WebSocket", logging.KeyErr, err)
			return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": "internal error"})
		}
		if canSee == nil {
			canSee = func(int64) bool { return false }
		}
		// The caps are checked again on subscribing; refusing here
		// answers 503 rather than upgrading only to close.
		if h.Subscribers() >= h.opt.MaxSubscribers {
			c.Set(fiber.HeaderRetryAfter, "5")
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "too many live connections; try again later"})
		}
		// The owner's slot is taken after the upgrade (serveWS), where
		// it is given back for sure; this early look answers 429 instead
		// of upgrading only to close.
		owner := ownerOf(c, opt.Owner)
		if h.ownerFull(owner) {
			return ownerLimited(c)
		}
		c.Locals(wsCanSeeKey, canSee)
		c.Locals(wsOwnerKey, owner)
		return upgrade(c)
	}, nil
}

// originOK allows a request without an Origin, from the server's own
// host, or from an allowed origin.
func originOK(c *fiber.Ctx, allowed map[string]bool) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed pages, files) and garbage
	}
	if allowed[u.Scheme+"://"+strings.ToLower(u.Host)] {
		return true
	}
	return strings.EqualFold(u.Host, string(c.Request().Host()))
}

func (h *Hub) serveWS(c *websocket.Conn, opt *WSOptions) {
	conn := c.Conn // c is recycled when this returns; goroutines use conn
	canSee, _ := c.Locals(wsCanSeeKey).(func(int64) bool)
	owner, _ := c.Locals(wsOwnerKey).(string)
	if canSee == nil || owner == "" {
		return
	}
	release, err := h.claim(owner)
	if err != nil {
		msg := fws.FormatCloseMessage(fws.CloseTryAgainLater, "too many live connections with these credentials")
		_ = conn.WriteControl(fws.CloseMessage, msg, time.Now().Add(wsCloseAfter))
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
	sub, err := h.SubscribeAll(ctx)
	cancel()
	if err != nil {
		msg := fws.FormatCloseMessage(fws.CloseTryAgainLater, "too many live connections")
		if !errors.Is(err, ErrTooManySubscribers) && !errors.Is(err, ErrClosed) {
			h.log.Warn("live: WebSocket subscribe", logging.KeyErr, err)
			msg = fws.FormatCloseMessage(fws.CloseInternalServerErr, "store unavailable")
		}
		_ = conn.WriteControl(fws.CloseMessage, msg, time.Now().Add(wsCloseAfter))
		return
	}
	defer sub.Close()
	conn.SetReadLimit(wsReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(2 * opt.PingInterval))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(2 * opt.PingInterval)) })
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() {
		_ = conn.Close() // ends the reader
		<-gone
	}()
	h.pumpWS(conn, sub, canSee, opt, gone)
}

// pumpWS writes the messages conn may see until the client goes, the
// subscription ends or a write fails.
func (h *Hub) pumpWS(conn *fws.Conn, sub *Subscription, canSee func(int64) bool, opt *WSOptions, gone <-chan struct{}) {
	ping := time.NewTicker(opt.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-gone:
			return
		case <-ping.C:
			if err := conn.WriteControl(fws.PingMessage, nil, time.Now().Add(opt.WriteTimeout)); err != nil {
				return
			}
		case b, ok := <-sub.c:
			if !ok {
				code, why := fws.CloseGoingAway, "server closing"
				if sub.Dropped() {
					code, why = fws.ClosePolicyViolation, "too slow: messages were not read"
				}
				_ = conn.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(code, why), time.Now().Add(wsCloseAfter))
				return
			}
			for _, ev := range b.events {
				if !canSee(ev.runID) {
					continue
				}
				if err := conn.SetWriteDeadline(time.Now().Add(opt.WriteTimeout)); err != nil {
					return
				}
				if err := conn.WriteMessage(fws.TextMessage, ev.Data); err != nil {
					return
				}
			}
		}
	}
}
