package render

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"

	yaml "go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// packageMap maps a common package name to each distribution's packages.
// A distribution absent from an entry uses the common name; an empty list
// means the package is not available there.
type packageMap map[string]map[spec.Base][]string

// rePackage is the spec's package-name rule, checked again here because the
// map's own entries end up on a command line too (gentoo atoms have '/',
// Fedora groups start with '@').
var rePackage = regexp.MustCompile(`^@?[A-Za-z0-9][A-Za-z0-9.+\-_@:/]*$`)

func loadPackageMap(fsys fs.FS) (packageMap, error) {
	b, err := fs.ReadFile(fsys, "templates/packages.yaml")
	if err != nil {
		return nil, fmt.Errorf("read package map: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m packageMap
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("package map: %w", err)
	}
	for name, per := range m {
		for base, pkgs := range per {
			if _, ok := distros[base]; !ok {
				return nil, fmt.Errorf("package map: %s: unknown distribution %q", name, base)
			}
			for _, p := range pkgs {
				if !rePackage.MatchString(p) {
					return nil, fmt.Errorf("package map: %s.%s: bad package name %q", name, base, p)
				}
			}
		}
	}
	return m, nil
}

// resolve returns the packages for name on base, and whether the name was
// in the map at all.
func (m packageMap) resolve(name string, base spec.Base) (pkgs []string, known bool) {
	per, ok := m[name]
	if !ok {
		return []string{name}, false
	}
	if p, ok := per[base]; ok {
		return p, true
	}
	return []string{name}, true
}
