package spec

import "strings"

// slashBases are the distributions whose package syntax has a "/": a
// Gentoo category/package atom, an Arch repository/package, a Debian or
// Ubuntu package/release. Elsewhere a "/" makes the package manager read
// the name as a file path (dnf, zypper, apk install local files).
var slashBases = map[Base]string{
	BaseGentoo: "category/package", BaseArch: "repository/package",
	BaseDebian: "package/release", BaseUbuntu: "package/release",
}

// packageFileSuffixes are package archives: package managers install such
// a name as a local (or downloaded) file, unsigned, instead of looking it
// up in the distribution's repositories.
var packageFileSuffixes = []string{".rpm", ".deb", ".udeb", ".apk", ".xbps", ".ebuild", ".tbz2", ".xpak", ".pkg.tar", ".gpkg.tar"}

// rulePackageNames refuses package names that a package manager would read
// as a file rather than a repository package. The decoder has already
// refused URLs and paths (reName); this adds what depends on the base.
func rulePackageNames(c *ruleCtx) {
	pk := c.s.Packages
	for i, it := range pk.Items {
		name := strings.ToLower(string(it.Name))
		path := pk.itemPath(i)
		if before, _, ok := strings.Cut(name, "/"); ok {
			if form, allowed := slashBases[c.s.Base]; !allowed {
				c.errorf(path, "write the package name alone",
					"%q: \"/\" is not part of a package name on %s (a package manager would read it as a file path)", it.Name, distroName[c.s.Base])
			} else if before == "" {
				c.errorf(path, "write "+form, "%q is not a %s name", it.Name, form)
			}
		}
		for _, suf := range packageFileSuffixes {
			if strings.HasSuffix(name, suf) || strings.Contains(name, suf+".") {
				c.errorf(path, "name the package from the distribution's signed repositories",
					"%q looks like a package file (%s), which would be installed unsigned", it.Name, suf)
				break
			}
		}
	}
}
