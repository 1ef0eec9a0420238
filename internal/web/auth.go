package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"github.com/linux-builder/linux-builder/internal/access"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Sign-in with GitHub, the web application flow: /auth/login sends the
// browser to GitHub with a random state it also keeps in a short-lived
// cookie; /auth/callback takes GitHub's code only with that state, asks
// GitHub who signed in, and starts a session (a new random secret in a
// cookie, its sha256 in the store). /auth/logout (a form with the
// session's CSRF token) ends it.

const stateTTL = 10 * time.Minute

// stateCookie is the sign-in state's cookie: __Host- (Secure, path /, this
// host only: a sibling subdomain cannot plant one) on https.
func (w *Web) stateCookie() (name, path string) {
	if w.secure {
		return "__Host-lb_oauth", "/"
	}
	return "lb_oauth", "/auth"
}

func (w *Web) login(c *fiber.Ctx) error {
	if w.cfg.OAuth == nil {
		return w.message(c, access.Viewer{}, fiber.StatusNotFound, "Sign-in is off", "This server has no GitHub OAuth client configured.")
	}
	state := rand.Text()
	next := safeNext(c.Query("next"))
	name, path := w.stateCookie()
	c.Cookie(&fiber.Cookie{Name: name, Value: state + "|" + url.QueryEscape(next), Path: path,
		MaxAge: int(stateTTL / time.Second), HTTPOnly: true, Secure: w.secure, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(w.cfg.OAuth.AuthorizeURL(state, w.cfg.PublicURL+"/auth/callback"), fiber.StatusFound)
}

func (w *Web) callback(c *fiber.Ctx) error {
	if w.cfg.OAuth == nil {
		return fiber.ErrNotFound
	}
	name, path := w.stateCookie()
	kept := c.Cookies(name)
	// The state is used once, whatever happens next.
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HTTPOnly: true, Secure: w.secure, SameSite: fiber.CookieSameSiteLaxMode})
	state, nextEsc, _ := strings.Cut(kept, "|")
	got := c.Query("state")
	if state == "" || got == "" || subtle.ConstantTimeCompare([]byte(state), []byte(got)) != 1 {
		return w.message(c, access.Viewer{}, fiber.StatusForbidden, "Sign-in refused",
			"This sign-in did not start here, or it took longer than 10 minutes. Sign in again.")
	}
	if e := c.Query("error"); e != "" {
		return w.message(c, access.Viewer{}, fiber.StatusForbidden, "Sign-in cancelled", "GitHub said: "+e+".")
	}
	code := c.Query("code")
	if code == "" || len(code) > 256 {
		return w.message(c, access.Viewer{}, fiber.StatusBadRequest, "Sign-in refused", "GitHub's answer had no code.")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 20*time.Second)
	defer cancel()
	u, err := w.cfg.OAuth.SignIn(ctx, code, w.cfg.PublicURL+"/auth/callback")
	if err != nil {
		w.cfg.Logger.Warn("web: sign-in with GitHub failed", logging.KeyErr, err)
		return w.message(c, access.Viewer{}, fiber.StatusBadGateway, "Sign-in failed", "GitHub did not confirm who you are. Sign in again.")
	}
	secret := rand.Text() + rand.Text()
	now := w.cfg.Now()
	s := &store.WebSession{ID: store.SessionID(secret), Login: u.Login, UserID: u.ID, CSRF: rand.Text(), CreatedAt: now, ExpiresAt: now.Add(w.cfg.SessionTTL)}
	if err := w.cfg.Store.CreateSession(ctx, s); err != nil {
		w.cfg.Logger.Error("web: record a session", logging.KeyErr, err)
		return w.message(c, access.Viewer{}, fiber.StatusServiceUnavailable, "Sign-in failed", "The server could not record your sign-in. Try again.")
	}
	c.Cookie(&fiber.Cookie{Name: w.sessionCookie(), Value: secret, Path: "/", MaxAge: int(w.cfg.SessionTTL / time.Second),
		HTTPOnly: true, Secure: w.secure, SameSite: fiber.CookieSameSiteLaxMode})
	w.cfg.Logger.Info("web: signed in", "login", u.Login)
	next, _ := url.QueryUnescape(nextEsc)
	return c.Redirect(safeNext(next), fiber.StatusFound)
}

func (w *Web) logout(c *fiber.Ctx) error {
	v := w.Viewer(c)
	if !v.SignedIn() {
		return c.Redirect("/runs", fiber.StatusSeeOther)
	}
	if subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(v.CSRF)) != 1 {
		return w.message(c, v, fiber.StatusForbidden, "Sign-out refused", "The form's token is not this session's. Reload the page and sign out again.")
	}
	if err := w.cfg.Store.DeleteSession(c.UserContext(), v.Session); err != nil {
		w.cfg.Logger.Error("web: delete a session", logging.KeyErr, err)
		return w.message(c, v, fiber.StatusServiceUnavailable, "Sign-out failed", "The server could not end your session. Try again.")
	}
	c.Cookie(&fiber.Cookie{Name: w.sessionCookie(), Value: "", Path: "/", MaxAge: -1, HTTPOnly: true, Secure: w.secure, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect("/runs", fiber.StatusSeeOther)
}

// safeNext is where to go after sign-in: a path of this server only
// (never another host, //host or /\host), else the runs list.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t\\") {
		return "/runs"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/runs"
	}
	return next
}
