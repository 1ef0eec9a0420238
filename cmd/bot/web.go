package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/linux-builder/linux-builder/internal/access"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/web"
)

// newWeb is bot serve's run pages (/runs, /runs/<id>) and sign-in with
// GitHub: on when GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the App's
// OAuth client) are set, with PUBLIC_URL the address browsers use;
// without them only public repositories' runs are shown. GITHUB_URL is
// GitHub's web host (default: derived from GITHUB_API_URL, else
// https://github.com). rules decide who reads which run.
func newWeb(db *store.DB, rules *access.Access, apiURL string) (*web.Web, error) {
	webURL := strings.TrimSuffix(os.Getenv("GITHUB_URL"), "/")
	if webURL == "" {
		webURL = github.WebURLFor(apiURL)
	}
	cfg := web.Config{Store: db, Access: rules,
		PublicURL: os.Getenv("PUBLIC_URL"), GitHubURL: webURL, Logger: slog.Default(),
		// The runs list's page links work on every replica.
		CursorSecret: []byte(os.Getenv("GITHUB_WEBHOOK_SECRET"))}
	id, secret := os.Getenv("GITHUB_CLIENT_ID"), os.Getenv("GITHUB_CLIENT_SECRET")
	switch {
	case id != "" && secret != "":
		cfg.OAuth = &github.OAuth{ClientID: id, ClientSecret: secret, WebURL: webURL, APIURL: apiURL}
	case id != "" || secret != "":
		return nil, fmt.Errorf("%w: sign-in needs both GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET", errUsage)
	default:
		slog.Info("run pages: sign-in with GitHub is off (GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET unset): only public repositories' runs are shown")
	}
	w, err := web.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return w, nil
}
