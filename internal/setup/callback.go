package setup

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
)

// maxQuery bounds the callback's query string: a code and a state are
// well under 1 KiB.
const maxQuery = 2048

// callback takes GitHub's redirect: GET /setup/callback?code=…&state=….
// The state must be the one this browser's cookie holds, issued here,
// unexpired and unused; it is spent before the code is converted.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	if h.made.Load() {
		h.fail(w, http.StatusGone, "A GitHub App was already created by this process; restart it to create another.")
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		h.fail(w, http.StatusBadRequest, "The query string is too long.")
		return
	}
	q := r.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	cname, cpath, secure := h.cookie()
	c, err := r.Cookie(cname)
	switch {
	case state == "" || code == "":
		h.fail(w, http.StatusBadRequest, "GitHub's redirect lacks its code or state: start again at "+Path+".")
		return
	case err != nil || c.Value == "":
		h.fail(w, http.StatusBadRequest, "This browser has no setup state (cookies off, or another browser started): start again at "+Path+".")
		return
	}
	// Spent whatever follows: a state is good for one try.
	http.SetCookie(w, &http.Cookie{Name: cname, Value: "", Path: cpath, MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	if subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 || !h.states.consume(state) {
		h.cfg.Logger.Warn("setup callback with a state this browser was not given, expired or used")
		h.fail(w, http.StatusForbidden, "The setup state does not match, has expired or was used: start again at "+Path+".")
		return
	}
	if !h.busy.TryLock() {
		h.fail(w, http.StatusConflict, "Another setup is being completed; wait for it.")
		return
	}
	defer h.busy.Unlock()
	h.complete(r.Context(), w, code)
}

// complete converts the code and writes the credentials.
func (h *Handler) complete(ctx context.Context, w http.ResponseWriter, code string) {
	if h.made.Load() {
		h.fail(w, http.StatusGone, "A GitHub App was already created by this process.")
		return
	}
	// Checked before the code is spent: GitHub converts a code once.
	if err := h.cfg.Output.check(); err != nil {
		h.fail(w, http.StatusConflict, err.Error()+". GitHub has created the App, but its credentials were not fetched: delete it in GitHub's settings (Developer settings → GitHub Apps) and start again.")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ConvertTimeout)
	defer cancel()
	app, err := h.cfg.Convert(ctx, code)
	if err != nil {
		h.cfg.Logger.Error("setup: manifest conversion failed", logging.KeyErr, err)
		if errors.Is(err, github.ErrManifestCode) {
			h.fail(w, http.StatusBadRequest, "GitHub does not know this code: it was used, has expired (codes last one hour) or is wrong. Start again at "+Path+".")
			return
		}
		h.fail(w, http.StatusBadGateway, "GitHub did not convert the code: "+err.Error())
		return
	}
	x := Extra{GitHub: h.cfg.GitHub, PublicURL: h.cfg.PublicURL, WebhookPath: h.cfg.WebhookPath}
	if err := h.cfg.Output.write(app, x, h.cfg.Now()); err != nil {
		h.cfg.Logger.Error("setup: GitHub App created, credentials not written", "app", app, logging.KeyErr, err)
		h.fail(w, http.StatusInternalServerError, "GitHub created the App "+app.HTMLURL+" but its credentials could not be written ("+err.Error()+
			"). In the App's settings, generate a new private key and reset the webhook and client secrets, or delete the App and start again.")
		return
	}
	h.made.Store(true)
	h.doneOnce.Do(func() { close(h.done) })
	h.cfg.Logger.Info("GitHub App created", "app", app, "env", h.cfg.Output.Env, "pem", h.cfg.Output.PEM)
	h.render(w, http.StatusOK, view{Done: &doneView{ID: app.ID, Slug: app.Slug, HTMLURL: app.HTMLURL,
		InstallURL: app.HTMLURL + "/installations/new", Env: h.cfg.Output.Env, PEM: h.cfg.Output.PEM}})
}
