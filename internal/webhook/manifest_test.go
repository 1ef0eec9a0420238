package webhook

import (
	"bytes"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manifest is a GitHub App manifest: every field GitHub's manifest flow
// accepts (docs: "Registering a GitHub App from a manifest"), no other.
type manifest struct {
	Name           string `yaml:"name"`
	Description    string `yaml:"description"`
	URL            string `yaml:"url"`
	HookAttributes *struct {
		URL    string `yaml:"url"`
		Active *bool  `yaml:"active"`
	} `yaml:"hook_attributes"`
	RedirectURL           string            `yaml:"redirect_url"`
	CallbackURLs          []string          `yaml:"callback_urls"`
	SetupURL              string            `yaml:"setup_url"`
	SetupOnUpdate         bool              `yaml:"setup_on_update"`
	RequestOAuthOnInstall bool              `yaml:"request_oauth_on_install"`
	Public                *bool             `yaml:"public"`
	DefaultPermissions    map[string]string `yaml:"default_permissions"`
	DefaultEvents         []string          `yaml:"default_events"`
}

// appPermissions are the GitHub App permission names (repository,
// organization and account permissions).
var appPermissions = map[string]bool{
	"actions": true, "administration": true, "attestations": true, "checks": true, "codespaces": true,
	"contents": true, "dependabot_secrets": true, "deployments": true, "environments": true, "issues": true,
	"merge_queues": true, "metadata": true, "packages": true, "pages": true, "pull_requests": true,
	"repository_custom_properties": true, "repository_hooks": true, "repository_projects": true,
	"secret_scanning_alerts": true, "secrets": true, "security_events": true, "single_file": true,
	"statuses": true, "vulnerability_alerts": true, "workflows": true,
	"members": true, "organization_administration": true, "organization_custom_roles": true,
	"organization_hooks": true, "organization_packages": true, "organization_plan": true,
	"organization_projects": true, "organization_secrets": true, "organization_self_hosted_runners": true,
	"organization_user_blocking": true, "team_discussions": true,
	"email_addresses": true, "followers": true, "git_ssh_keys": true, "gpg_keys": true,
	"interaction_limits": true, "profile": true, "starring": true,
}

// eventPermission is the permission an App needs to subscribe to each
// event the bot may subscribe to (any one of those listed).
var eventPermission = map[string][]string{
	"push":          {"contents"},
	"pull_request":  {"pull_requests"},
	"issue_comment": {"issues", "pull_requests"},
	"check_run":     {"checks"},
	"check_suite":   {"checks"},
}

// app.yml is a valid GitHub App manifest whose events are exactly those
// the receiver handles, each with the permission it needs, and whose
// permissions are known names at read or write.
func TestAppManifest(t *testing.T) {
	raw, err := os.ReadFile("../../app.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a key GitHub does not know fails
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("app.yml: %v", err)
	}
	for name, u := range map[string]string{"url": m.URL, "redirect_url": m.RedirectURL} {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
			t.Errorf("%s %q: want a full https URL", name, u)
		}
	}
	if m.Name == "" || m.Public == nil {
		t.Errorf("name %q, public %v: both are wanted", m.Name, m.Public)
	}
	if m.HookAttributes == nil || m.HookAttributes.Active == nil || !*m.HookAttributes.Active {
		t.Fatal("hook_attributes: want url and active: true")
	}
	if p, err := url.Parse(m.HookAttributes.URL); err != nil || p.Scheme != "https" || p.Path != "/webhook" {
		t.Errorf("hook_attributes.url %q: want https://…/webhook", m.HookAttributes.URL)
	}
	for name, level := range m.DefaultPermissions {
		if !appPermissions[name] {
			t.Errorf("default_permissions: unknown permission %q", name)
		}
		if level != "read" && level != "write" {
			t.Errorf("default_permissions.%s: %q, want read or write", name, level)
		}
	}
	if m.DefaultPermissions["metadata"] != "read" {
		t.Error("default_permissions: metadata: read is required of every App")
	}
	// /build --pr opens a pull request with the generated spec.
	if m.DefaultPermissions["pull_requests"] != "write" || m.DefaultPermissions["contents"] != "write" {
		t.Error("default_permissions: /build --pr needs pull_requests: write and contents: write")
	}
	for _, ev := range m.DefaultEvents {
		need, ok := eventPermission[ev]
		if !ok {
			t.Errorf("default_events: %q has no permission listed here", ev)
			continue
		}
		if !slices.ContainsFunc(need, func(p string) bool { return m.DefaultPermissions[p] != "" }) {
			t.Errorf("default_events: %q needs one of the permissions %v", ev, need)
		}
	}
	// The README states the same permissions ("pull requests write").
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, level := range m.DefaultPermissions {
		if phrase := strings.ReplaceAll(name, "_", " ") + " " + level; !bytes.Contains(readme, []byte(phrase)) {
			t.Errorf("README.md does not say %q as app.yml does", phrase)
		}
	}
	var handled []string
	for ev := range handlers {
		handled = append(handled, ev)
	}
	sort.Strings(handled)
	events := slices.Clone(m.DefaultEvents)
	sort.Strings(events)
	if !slices.Equal(events, handled) {
		t.Errorf("default_events %v, but the receiver handles %v (installation events come unasked)", events, handled)
	}
}
