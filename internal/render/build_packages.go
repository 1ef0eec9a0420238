package render

import (
	"fmt"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// buildServices installs the services of the spec's services section,
// initialises their data where the package does not, and enables the
// daemons. A service the distribution does not package is left out with a
// warning.
func buildServices(b *modelBuilder) error {
	s, m := b.s, b.m
	for _, group := range []struct {
		path  string
		names []string
	}{
		{"services.databases", toStrings(s.Services.Databases)},
		{"services.monitoring", toStrings(s.Services.Monitoring)},
		{"services.ai", toStrings(s.Services.AI)},
	} {
		for i, n := range group.names {
			p := fmt.Sprintf("%s[%d]", group.path, i)
			if ok, _ := b.feat.add(n); !ok {
				b.warn(p, "%s is not packaged for %s; install it from its vendor in a postInstall script", n, s.Base)
				continue
			}
			if cmd := dataInit[n][s.Base]; cmd != "" {
				m.DataInit = append(m.DataInit, cmd)
			}
			if !noDaemon[n] {
				b.enable(serviceName(n, s.Base))
			}
		}
	}
	return nil
}

// buildPackages resolves the packages the spec asks for, warning about
// those the distribution lacks and those without a cross-distribution
// mapping, and lists what the image installs: the distribution's own
// packages, then the features', then the requested ones.
func buildPackages(b *modelBuilder) error {
	s := b.s
	user := &packageSet{m: b.r.packages, base: s.Base, excluded: b.excluded, seen: b.sys.seen}
	for i, it := range s.Packages.Items {
		p := packagePath(s.Packages, i)
		ok, known := user.add(string(it.Name))
		switch {
		case !ok:
			b.warn(p, "%s is not packaged for %s; it is left out", it.Name, s.Base)
		case !known:
			b.warn(p, "%s has no cross-distribution mapping; it is installed under that name on %s", it.Name, s.Base)
		}
	}
	b.m.SystemPackages = b.sys.list
	b.m.UserPkgs = append(b.feat.list, user.list...)
	return nil
}

// buildPostInstall enables the services postInstall names, numbers its
// scripts in order, and gives daemons a foreground command on init systems
// whose service definitions the distributions do not ship.
func buildPostInstall(b *modelBuilder) error {
	s, m := b.s, b.m
	for _, u := range s.PostInstall.Services {
		b.enable(string(u))
	}
	for i, sc := range s.PostInstall.Scripts {
		m.Scripts = append(m.Scripts, scriptFile{File: fmt.Sprintf("%02d-%s", i+1, sc.Name), Name: string(sc.Name)})
	}
	if s.Init == spec.InitS6 || (s.Init == spec.InitRunit && s.Base != spec.BaseVoid) {
		m.Foreground = sortedKV(foreground)
	}
	return nil
}

// packagePath is the spec path of the i-th package, in the form the spec
// wrote its packages (a list, a map, or lists by category).
func packagePath(p spec.Packages, i int) string {
	if p.Form == spec.PackageFormList {
		return fmt.Sprintf("packages[%d]", i)
	}
	it := p.Items[i]
	if p.Form == spec.PackageFormMap {
		return "packages." + string(it.Name)
	}
	n := 0
	for j := 0; j < i; j++ {
		if p.Items[j].Category == it.Category {
			n++
		}
	}
	return fmt.Sprintf("packages.%s[%d]", it.Category, n)
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
