package spec

import (
	"slices"
	"strings"
)

// privateTLDs are top-level names that never resolve on the public
// internet, only inside a network or on the host itself.
var privateTLDs = []string{"localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private", "arpa", "test", "invalid"}

// ruleDotfilesHost refuses dotfiles repositories on hosts that are not
// public DNS names: an IP literal, localhost or a single-label or
// private-zone name would point the build container's git clone at the
// build host or its network. (A public name that resolves to a private
// address is the build network policy's to stop.)
func ruleDotfilesHost(c *ruleCtx) {
	repo := string(c.s.Customization.Dotfiles.Repo)
	if repo == "" {
		return
	}
	host := repoHost(repo)
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	tld := labels[len(labels)-1]
	if len(labels) >= 2 && isLetters(tld) && !slices.Contains(privateTLDs, tld) {
		return
	}
	path := "customization.dotfiles"
	if c.set(path + ".repo") {
		path += ".repo"
	}
	c.errorf(path, "use the repository's public address, such as https://github.com/owner/dotfiles",
		"%s is not a public host name (an IP address, localhost or a private name would reach the build host's network)", quote(host))
}

// repoHost returns the host of an https:// or git@host: URL that reRepoURL
// accepted.
func repoHost(repo string) string {
	if rest, ok := strings.CutPrefix(repo, "https://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		host, _, _ = strings.Cut(host, ":")
		return host
	}
	rest := strings.TrimPrefix(repo, "git@")
	host, _, _ := strings.Cut(rest, ":")
	return host
}

func isLetters(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}
