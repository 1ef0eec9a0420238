package dpkg

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ManifestName is the file name of a run's package manifest.
const ManifestName = "packages.txt"

// MaxManifestLines bounds how many packages a manifest may list.
const MaxManifestLines = 100000

// WriteManifest writes ps as a manifest: one "name\tversion\tarch" line
// per package, sorted (the format of dpkg-query -W -f
// '${Package}\t${Version}\t${Architecture}\n' | sort).
func WriteManifest(w io.Writer, ps []Package) error {
	sorted := append([]Package(nil), ps...)
	sortPackages(sorted)
	bw := bufio.NewWriter(w)
	for _, p := range sorted {
		if err := p.check(); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(bw, "%s\t%s\t%s\n", p.Name, p.Version, p.Arch); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadManifest reads what WriteManifest wrote. Any other line is an
// error, as is a manifest of more than MaxManifestLines packages.
func ReadManifest(r io.Reader) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	var out []Package
	for n := 1; sc.Scan(); n++ {
		if n > MaxManifestLines {
			return nil, fmt.Errorf("manifest: more than %d packages", MaxManifestLines)
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("manifest line %d: want name<TAB>version<TAB>arch", n)
		}
		p := Package{Name: f[0], Version: f[1], Arch: f[2]}
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", n, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return out, nil
}

// Update is a package the distribution published a newer version of.
type Update struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Updates lists the packages of installed that latest (name → the newest
// published version) has a newer version of, in installed's order.
// Versions that do not parse are skipped: a hostile index cannot fail the
// comparison of the others.
func Updates(installed []Package, latest map[string]string) []Update {
	var out []Update
	seen := map[string]bool{}
	for _, p := range installed {
		nv, ok := latest[p.Name]
		if !ok || seen[p.Name] {
			continue
		}
		if c, err := Compare(nv, p.Version); err == nil && c > 0 {
			seen[p.Name] = true
			out = append(out, Update{Name: p.Name, Old: p.Version, New: nv})
		}
	}
	return out
}
