package render

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// Hostile values in every field that reaches a command line or a config
// file are rejected by validation, at the field's path.
func TestInjectionIsRejectedByValidation(t *testing.T) {
	payloads := []string{"; rm -rf /", "$(reboot)", "`id`", "a\nb", "../../etc/passwd", "x' || true; '"}
	fields := []struct {
		name, yaml, path string // yaml has one %s where the payload goes
	}{
		{"package", "packages: [%s]", "packages[0]"},
		{"categorized package", "packages: {utils: [%s]}", "packages.utils[0]"},
		{"kernel param", "defaults: {kernelParams: [%s]}", "defaults.kernelParams[0]"},
		{"kernel module", "kernel: {modules: [%s]}", "kernel.modules[0]"},
		{"backup destination", "backup: {tool: rsync, destinations: [%s]}", "backup.destinations[0]"},
		{"dotfiles repo", "customization: {dotfiles: {repo: %s}}", "customization.dotfiles.repo"},
		{"dotfiles ref", "customization: {dotfiles: {repo: \"https://x.org/a/b\", ref: %s}}", "customization.dotfiles.ref"},
		{"theme", "display: {theme: %s}", "display.theme"},
		{"shell theme", "customization: {shellTheme: %s}", "customization.shellTheme"},
		{"service", "postInstall: {services: [%s]}", "postInstall.services[0]"},
		{"script name", "postInstall: {scripts: [{name: %s, run: echo}]}", "postInstall.scripts[0].name"},
		{"sysctl value", "postInstall: {systemTuning: {sysctl: {vm.x: %s}}}", `postInstall.systemTuning.sysctl["vm.x"]`},
		{"release", "release: %s", "release"},
		{"name", "name: %s", "name"},
		{"user name", "users: [{name: %s}]", "users[0].name"},
		{"user group", "users: [{name: a, groups: [%s]}]", "users[0].groups[0]"},
		{"user shell", "users: [{name: a, shell: %s}]", "users[0].shell"},
		{"user password hash", "users: [{name: a, passwordHash: %s}]", "users[0].passwordHash"},
		{"user ssh key", "users: [{name: a, sshAuthorizedKeys: [%s]}]", "users[0].sshAuthorizedKeys[0]"},
	}
	for _, f := range fields {
		for _, p := range payloads {
			if p == "../../etc/passwd" && f.name == "sysctl value" {
				continue // a value, never a path: inert text in sysctl.d
			}
			t.Run(f.name+"/"+p, func(t *testing.T) {
				src := "base: debian\n" + strings.Replace(f.yaml, "%s", yamlQuote(p), 1) + "\n"
				_, diags := spec.Parse("i.yaml", []byte(src))
				for _, d := range diags.Errors() {
					if d.Path == f.path && d.Pos.IsValid() {
						return
					}
				}
				t.Fatalf("payload %q in %s was not rejected at %s:\n%s", p, f.name, f.path, diags.Error())
			})
		}
	}
	// Dotfile paths are keys: escaping the home directory is rejected too.
	_, diags := spec.Parse("i.yaml", []byte("base: debian\ncustomization: {dotfiles: {files: {\"../../etc/passwd\": x}}}\n"))
	if !diags.HasErrors() {
		t.Fatal("dotfile path ../../etc/passwd accepted")
	}
}

func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// Free text (postInstall scripts, inline dotfiles) is accepted, but only
// as file content: it appears in no Dockerfile instruction and no
// generated script.
func TestFreeTextIsRenderedInert(t *testing.T) {
	const payload = "rm -rf / ; $(reboot) `id` '\"\n"
	src := "base: debian\npostInstall:\n  scripts:\n    - " + yamlQuote(payload) + "\ncustomization:\n  dotfiles:\n    files:\n      .evil: " + yamlQuote(payload) + "\n"
	doc, diags := spec.Parse("i.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	c, err := newRenderer(t).Render(doc, diags, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, f := range c.Files {
		if bytes.Contains(f.Data, []byte("$(reboot)")) {
			holders = append(holders, f.Path)
		}
	}
	// spec.json is the resolved spec, JSON-encoded, for reference.
	want := []string{"identity/etc/linux-builder/spec.json", "post-install/01-01-post-install.sh", "rootfs/etc/skel/.evil"}
	if strings.Join(holders, ",") != strings.Join(want, ",") {
		t.Fatalf("payload appears in %v, want only %v", holders, want)
	}
	if f := c.File("post-install/01-01-post-install.sh"); string(f.Data) != payload {
		t.Fatalf("script content changed: %q", f.Data)
	}
}

// The second line of defence: whatever a value holds, shQuote makes it one
// inert word for a real POSIX shell.
func TestShQuoteIsInertInARealShell(t *testing.T) {
	sh := requireTool(t, "sh")
	for _, v := range []string{"plain", "; rm -rf /", "$(reboot)", "`id`", "it's", "'; echo pwned; '", "a\nb", "$HOME", "\\", "*", ""} {
		out, err := exec.Command(sh, "-c", "printf '%s' "+shQuote(v)).Output()
		if err != nil || string(out) != v {
			t.Errorf("shQuote(%q): shell printed %q (%v)", v, out, err)
		}
	}
}
