package resolve

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// executableContent lists what in a generated spec runs code that the
// spec's author chose rather than the bot's templates: postInstall
// scripts (run as root during the build), a dotfiles repository (fetched
// into the image), inline dotfiles (shell start-up files run at login),
// sysctl values naming a program the kernel runs (kernel.modprobe,
// kernel.core_pattern, …), kernel parameters choosing the init program,
// packages named by URL or path (installed without a repository's
// signature), and logins (SSH keys, password hashes, unusual shells). A spec that cannot be read is listed as such: the check
// fails closed.
func executableContent(source []byte) []string {
	doc, diags := spec.Parse(ai.SpecFile, source)
	if doc == nil || doc.Spec == nil || diags.HasErrors() {
		return []string{"the spec cannot be read, so what it runs cannot be checked"}
	}
	s := doc.Spec
	var out []string
	for i, sc := range s.PostInstall.Scripts {
		name := ""
		if sc.Name != "" {
			name = fmt.Sprintf(" (%s)", sc.Name)
		}
		out = append(out, fmt.Sprintf("`postInstall.scripts[%d]`%s runs as root during the build", i, name))
	}
	if r := s.Customization.Dotfiles.Repo; r != "" {
		out = append(out, fmt.Sprintf("`customization.dotfiles.repo` fetches %s into the image", r))
	}
	files := make([]string, 0, len(s.Customization.Dotfiles.Files))
	for p := range s.Customization.Dotfiles.Files {
		files = append(files, string(p))
	}
	sort.Strings(files)
	for _, p := range files {
		out = append(out, fmt.Sprintf("`customization.dotfiles.files` writes `~/%s`, which a shell or desktop may run", p))
	}
	keys := make([]string, 0, len(s.PostInstall.SystemTuning.Sysctl))
	for k, v := range s.PostInstall.SystemTuning.Sysctl {
		if strings.Contains(string(v), "/") || strings.Contains(string(v), "|") {
			keys = append(keys, string(k))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, fmt.Sprintf("sysctl `%s` names a program the kernel runs", k))
	}
	for _, p := range s.Defaults.KernelParams {
		if name, _, _ := strings.Cut(string(p), "="); name == "init" || name == "rdinit" {
			out = append(out, fmt.Sprintf("kernel parameter `%s` chooses the program run at boot", name))
		}
	}
	// Logins the model chose are access to every machine that boots the
	// image: whoever holds the key or knows the password gets in.
	for i, u := range s.Users {
		if len(u.SSHAuthorizedKeys) > 0 {
			out = append(out, fmt.Sprintf("`users[%d]` (%s) lets the holders of %d SSH key(s) log in", i, u.Name, len(u.SSHAuthorizedKeys)))
		}
		if u.PasswordHash != "" {
			out = append(out, fmt.Sprintf("`users[%d]` (%s) has a password someone knows", i, u.Name))
		}
		if u.Shell != "" && !slices.Contains(spec.KnownShells, path.Base(string(u.Shell))) {
			out = append(out, fmt.Sprintf("`users[%d]` (%s) logs in to the program `%s`", i, u.Name, u.Shell))
		}
	}
	for _, n := range s.Packages.Names() {
		if strings.Contains(n, "://") || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "./") || strings.HasPrefix(n, "../") {
			out = append(out, fmt.Sprintf("package `%s` is a URL or path, not a name from the distribution's repositories", n))
		}
	}
	return out
}

// ExecutableContent lists what in a generated spec runs code its author
// (the model) chose: see executableContent. The REST API refuses to build
// such a spec from a description until a person submits it as a spec.
func ExecutableContent(source []byte) []string { return executableContent(source) }
