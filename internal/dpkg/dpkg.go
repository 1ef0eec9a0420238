// Package dpkg reads and writes what Debian-family systems say about their
// packages: control stanzas (the dpkg status file, an archive's Packages
// index), the manifest a run records (packages.txt) and version order.
// Pure: no I/O beyond the readers and writers it is given. Every input is
// treated as hostile: lines and whole inputs are bounded, and malformed
// input is an error, never a panic.
package dpkg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"pault.ag/go/debian/version"
)

// MaxLine is the longest line a stanza reader accepts.
const MaxLine = 1 << 20

// Package is one installed (or published) binary package.
type Package struct {
	Name    string
	Version string
	Arch    string
}

// Stanzas calls fn with the fields it asks for (want) of each stanza of a
// control file (paragraphs of "Field: value" lines separated by blank
// lines; continuation lines start with a space or tab and are skipped).
// It stops at fn's first error. A line longer than MaxLine, or a field
// line without a colon, is an error.
func Stanzas(r io.Reader, want []string, fn func(map[string]string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	cur := map[string]string{}
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		err := fn(cur)
		cur = map[string]string{}
		return err
	}
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '#' {
			continue // a continuation line (descriptions, conffiles) or a comment
		}
		k, v, ok := bytes.Cut(b, []byte(":"))
		if !ok {
			return fmt.Errorf("line %d: not a \"Field: value\" line", line)
		}
		key := string(k)
		if slices.Contains(want, key) {
			cur[key] = string(bytes.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, MaxLine)
		}
		return err
	}
	return flush()
}

// ParseStatus reads a dpkg status file (/var/lib/dpkg/status) and returns
// the packages that are installed ("Status: install ok installed"),
// sorted by name and architecture.
func ParseStatus(r io.Reader) ([]Package, error) {
	var out []Package
	err := Stanzas(r, []string{"Package", "Status", "Version", "Architecture"}, func(f map[string]string) error {
		if f["Status"] != "install ok installed" {
			return nil
		}
		p := Package{Name: f["Package"], Version: f["Version"], Arch: f["Architecture"]}
		if err := p.check(); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	sortPackages(out)
	return out, nil
}

// check accepts a package whose name, version and architecture are
// well-formed: they are written one per line, tab-separated.
func (p Package) check() error {
	switch {
	case !validName(p.Name):
		return fmt.Errorf("package name %q is not a Debian package name", p.Name)
	case p.Arch == "" || strings.ContainsAny(p.Arch, " \t\r\n") || len(p.Arch) > 64:
		return fmt.Errorf("package %s: bad architecture %q", p.Name, p.Arch)
	}
	if !validVersion(p.Version) {
		return fmt.Errorf("package %s: bad version %q", p.Name, p.Version)
	}
	return nil
}

// Valid reports whether name and version are a well-formed package name
// and version, bounded as a manifest's are (a name of at most 128
// characters, a version of at most 256, no blanks): what an archive's
// index may be trusted to say.
func Valid(name, version string) bool {
	return validName(name) && validVersion(version)
}

func validVersion(v string) bool {
	if len(v) > 256 || strings.ContainsAny(v, " \t\r\n") {
		return false
	}
	_, err := version.Parse(v)
	return err == nil
}

// validName: lower-case letters, digits, + - . (at least two characters,
// starting with an alphanumeric), as Debian policy §5.6.1 says.
func validName(s string) bool {
	if len(s) < 2 || len(s) > 128 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func sortPackages(ps []Package) {
	slices.SortFunc(ps, func(a, b Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Arch, b.Arch)
	})
}

// Compare orders two Debian versions as dpkg does: negative when a is
// older than b, 0 when equal, positive when newer. A version that does not
// parse is an error.
func Compare(a, b string) (int, error) {
	va, err := version.Parse(a)
	if err != nil {
		return 0, fmt.Errorf("version %q: %w", a, err)
	}
	vb, err := version.Parse(b)
	if err != nil {
		return 0, fmt.Errorf("version %q: %w", b, err)
	}
	return version.Compare(va, vb), nil
}
