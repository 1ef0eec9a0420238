package setup

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AppFile is app.yml: the App's name, description, permissions and
// events, in the form Probot apps ship it.
type AppFile struct {
	Name           string `yaml:"name"`
	Description    string `yaml:"description"`
	URL            string `yaml:"url"`
	HookAttributes struct {
		URL    string `yaml:"url"`
		Active *bool  `yaml:"active"`
	} `yaml:"hook_attributes"`
	RedirectURL        string            `yaml:"redirect_url"`
	Public             bool              `yaml:"public"`
	DefaultPermissions map[string]string `yaml:"default_permissions"`
	DefaultEvents      []string          `yaml:"default_events"`
}

// Manifest is the GitHub App manifest /setup posts to GitHub
// (https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest).
type Manifest struct {
	Name               string            `json:"name"`
	URL                string            `json:"url"`
	HookAttributes     HookAttributes    `json:"hook_attributes"`
	RedirectURL        string            `json:"redirect_url"`
	CallbackURLs       []string          `json:"callback_urls"`
	SetupURL           string            `json:"setup_url"`
	Description        string            `json:"description"`
	Public             bool              `json:"public"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	DefaultEvents      []string          `json:"default_events"`
	// RequestOAuthOnInstall stays false: people sign in to the run pages
	// with the App's OAuth client when they need to, not on install.
	RequestOAuthOnInstall bool `json:"request_oauth_on_install"`
	SetupOnUpdate         bool `json:"setup_on_update"`
}

// HookAttributes is where GitHub sends the App's webhooks.
type HookAttributes struct {
	URL    string `json:"url"`
	Active bool   `json:"active"`
}

var (
	permissionName = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
	eventName      = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
	// appName is what GitHub takes as an App's name (at most 34
	// characters); a stricter set keeps it plain.
	appName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,33}$`)
)

// ParseAppFile reads app.yml strictly: unknown fields, permissions other
// than read, write or admin, and odd event names are errors (start-up
// stops on them).
func ParseAppFile(raw []byte) (*AppFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f AppFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("app.yml: %w", err)
	}
	if !appName.MatchString(f.Name) {
		return nil, fmt.Errorf("app.yml: name %q: want 1 to 34 letters, digits, spaces, '.', '_' or '-'", f.Name)
	}
	if len(f.DefaultPermissions) == 0 {
		return nil, errors.New("app.yml: default_permissions is empty")
	}
	for name, level := range f.DefaultPermissions {
		if !permissionName.MatchString(name) || (level != "read" && level != "write" && level != "admin") {
			return nil, fmt.Errorf("app.yml: default_permissions: %q: %q: want read, write or admin", name, level)
		}
	}
	for _, e := range f.DefaultEvents {
		if !eventName.MatchString(e) {
			return nil, fmt.Errorf("app.yml: default_events: %q is not an event name", e)
		}
	}
	return &f, nil
}

// Build is the manifest for a server at publicURL (no trailing slash)
// receiving webhooks on webhookPath, whose browser flow comes back to
// setupURL; name, when set, replaces app.yml's.
func (f *AppFile) Build(publicURL, setupURL, webhookPath, name string) Manifest {
	if name == "" {
		name = f.Name
	}
	active := true
	if f.HookAttributes.Active != nil {
		active = *f.HookAttributes.Active
	}
	perms := make(map[string]string, len(f.DefaultPermissions))
	for k, v := range f.DefaultPermissions {
		perms[k] = v
	}
	return Manifest{
		Name:               name,
		URL:                publicURL,
		HookAttributes:     HookAttributes{URL: publicURL + webhookPath, Active: active},
		RedirectURL:        setupURL + CallbackPath,
		CallbackURLs:       []string{publicURL + "/auth/callback"},
		SetupURL:           publicURL + "/runs",
		Description:        strings.TrimSpace(f.Description),
		Public:             f.Public,
		DefaultPermissions: perms,
		DefaultEvents:      append([]string{}, f.DefaultEvents...),
	}
}
