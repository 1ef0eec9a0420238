package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// maxManifestResponse bounds the conversion's answer: an App with its key
// is a few KiB.
const maxManifestResponse = 1 << 20

// manifestCode is what a manifest code may look like: GitHub's are 20–40
// hex digits; anything else is refused before it is sent.
var manifestCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ErrManifestCode is a code GitHub does not know: expired (codes last one
// hour), already used, or never issued.
var ErrManifestCode = errors.New("github: the manifest code is unknown, already used or expired (codes last one hour)")

// ManifestApp is the App GitHub made from a manifest, with its
// credentials. Its String and LogValue never show the secrets.
type ManifestApp struct {
	ID      int64  `json:"id"`
	Slug    string `json:"slug"`
	NodeID  string `json:"node_id"`
	Name    string `json:"name"`
	HTMLURL string `json:"html_url"`
	Owner   struct {
		Login string `json:"login"`
	} `json:"owner"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	WebhookSecret string `json:"webhook_secret"`
	PEM           string `json:"pem"`
}

// String names the App without its secrets.
func (a ManifestApp) String() string { return fmt.Sprintf("GitHub App %d (%s)", a.ID, a.Slug) }

// LogValue logs the App without its secrets.
func (a ManifestApp) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("id", a.ID), slog.String("slug", a.Slug), slog.String("html_url", a.HTMLURL))
}

// ConvertManifest exchanges the code GitHub's manifest flow redirected
// with for the App it created (POST /app-manifests/{code}/conversions,
// unauthenticated). apiURL is the REST API's base (empty: api.github.com;
// GHES: https://HOST/api/v3). The answer is bounded in size and time
// (client's timeout, or 30 s), must be a 201, and its credentials must be
// present; the private key must parse. Errors never include the answer's
// secrets.
func ConvertManifest(ctx context.Context, client *http.Client, apiURL, code string) (*ManifestApp, error) {
	if !manifestCode.MatchString(code) {
		return nil, errors.New("github: a manifest code is 1 to 128 letters, digits, _ or -")
	}
	if apiURL == "" {
		apiURL = "https://api.github.com"
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	endpoint := strings.TrimSuffix(apiURL, "/") + "/app-manifests/" + url.PathEscape(code) + "/conversions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("github: manifest conversion request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("github: manifest conversion: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestResponse+1))
	if err != nil {
		return nil, fmt.Errorf("github: manifest conversion: reading the answer: %w", err)
	}
	if len(body) > maxManifestResponse {
		return nil, fmt.Errorf("github: manifest conversion: the answer is over %d bytes", maxManifestResponse)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrManifestCode
	case resp.StatusCode != http.StatusCreated:
		return nil, fmt.Errorf("github: manifest conversion: %s: %s", resp.Status, errorMessage(body))
	}
	var app ManifestApp
	if err := json.Unmarshal(body, &app); err != nil {
		return nil, fmt.Errorf("github: manifest conversion: the answer is not the App's JSON: %w", err)
	}
	if err := app.check(); err != nil {
		return nil, fmt.Errorf("github: manifest conversion: %w", err)
	}
	return &app, nil
}

// check refuses an answer without the credentials the bot needs.
func (a *ManifestApp) check() error {
	switch {
	case a.ID <= 0:
		return errors.New("the answer has no App id")
	case a.Slug == "":
		return errors.New("the answer has no App slug")
	case a.ClientID == "" || a.ClientSecret == "":
		return errors.New("the answer has no OAuth client id or secret")
	case a.WebhookSecret == "":
		return errors.New("the answer has no webhook secret")
	}
	if u, err := url.Parse(a.HTMLURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("the answer's html_url is not a web address")
	}
	key, err := DecodePrivateKey([]byte(a.PEM))
	if err != nil {
		return fmt.Errorf("the answer's private key: %w", err)
	}
	a.PEM = string(key)
	return nil
}

// errorMessage is GitHub's error message in body, bounded and on one line
// (GitHub's error bodies carry no secrets).
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	msg := string(body)
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	msg = strings.Join(strings.Fields(strings.ToValidUTF8(msg, "?")), " ")
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}
