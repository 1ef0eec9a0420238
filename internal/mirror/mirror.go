// Package mirror reads Debian and Ubuntu archives over HTTP: when their
// indexes last changed (the InRelease files' Date) and the versions their
// updates and security suites publish (Packages indexes). It tells the
// scheduled rebuild whether a successful build's packages have newer
// versions; the build itself installs with apt, which verifies the
// archive's signatures, so this client does not (a forged index can at
// most cause a rebuild). Every response is bounded in size and time, and
// hostile content is an error, never a panic.
package mirror

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xi2/xz"

	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// Default archive URLs: those the base images and rendered sources use.
const (
	DefaultDebian         = "http://deb.debian.org/debian"
	DefaultDebianSecurity = "http://security.debian.org/debian-security"
	DefaultUbuntu         = "http://archive.ubuntu.com/ubuntu"
	DefaultUbuntuSecurity = "http://security.ubuntu.com/ubuntu"
	DefaultUbuntuPorts    = "http://ports.ubuntu.com/ubuntu-ports"
)

// maxXZDict is the largest LZMA2 dictionary a Packages.xz may ask for.
const maxXZDict = 64 << 20

// xzErrors names the xz decoder's refusal of a large dictionary.
type xzErrors struct{ r io.Reader }

func (x *xzErrors) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if errors.Is(err, xz.ErrMemlimit) {
		err = fmt.Errorf("xz: a block asks for a dictionary over the limit of %d bytes: %w", maxXZDict, err)
	}
	return n, err
}

// Default bounds.
const (
	DefaultMaxIndex      = 1 << 20   // an InRelease file
	DefaultMaxCompressed = 64 << 20  // a Packages.xz or .gz as downloaded
	DefaultMaxPackages   = 256 << 20 // a Packages index, decompressed
	DefaultTimeout       = 2 * time.Minute
)

// ErrUnsupported is returned for a distribution that is not Debian or
// Ubuntu (no dpkg archive to ask).
// It wraps errors.ErrUnsupported, which the pipeline takes as "no index
// date to key on" rather than as a failure worth a warning.
var ErrUnsupported = fmt.Errorf("mirror: only Debian and Ubuntu archives are supported: %w", errors.ErrUnsupported)

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// Archive URLs, without a trailing slash.
	Debian, DebianSecurity, Ubuntu, UbuntuSecurity, UbuntuPorts string
	// HTTP is the client requests go through; default a new one.
	HTTP *http.Client
	// Timeout bounds each request, body included.
	Timeout time.Duration
	// Size bounds (bytes).
	MaxIndex, MaxCompressed, MaxPackages int64
	// Now is the clock an index's Date is checked against (default
	// time.Now).
	Now func() time.Time
}

// Client reads archives. It is safe for concurrent use.
type Client struct{ cfg Config }

// New makes a Client.
func New(cfg Config) *Client {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
		*s = strings.TrimRight(*s, "/")
	}
	def(&cfg.Debian, DefaultDebian)
	def(&cfg.DebianSecurity, DefaultDebianSecurity)
	def(&cfg.Ubuntu, DefaultUbuntu)
	def(&cfg.UbuntuSecurity, DefaultUbuntuSecurity)
	def(&cfg.UbuntuPorts, DefaultUbuntuPorts)
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxIndex <= 0 {
		cfg.MaxIndex = DefaultMaxIndex
	}
	if cfg.MaxCompressed <= 0 {
		cfg.MaxCompressed = DefaultMaxCompressed
	}
	if cfg.MaxPackages <= 0 {
		cfg.MaxPackages = DefaultMaxPackages
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}
}

// Suite is one suite of an archive: dists/<Name> under URL.
type Suite struct {
	URL, Name string
}

// codenames maps the version numbers the spec allows for a release
// (internal/spec.KnownReleases) to the archive's suite names.
var codenames = map[spec.Base]map[string]string{
	spec.BaseDebian: {"11": "bullseye", "12": "bookworm", "13": "trixie", "unstable": "sid"},
	spec.BaseUbuntu: {"20.04": "focal", "22.04": "jammy", "24.04": "noble", "24.10": "oracular", "25.04": "plucky"},
}

// Suites returns release's suites: the release itself, its updates and
// its security updates (sid: itself only), for architecture arch
// (Debian's name: amd64, arm64; x86_64 and aarch64 are accepted). A
// release given by number is named by its codename.
func (c *Client) Suites(base spec.Base, release, arch string) ([]Suite, error) {
	if !validWord(release) {
		return nil, fmt.Errorf("mirror: bad release %q", release)
	}
	if name, ok := codenames[base][release]; ok {
		release = name
	} else if strings.Trim(release, "0123456789.") == "" && (base == spec.BaseDebian || base == spec.BaseUbuntu) {
		return nil, fmt.Errorf("mirror: no suite name known for %s %s: name the release by its codename", base, release)
	}
	switch base {
	case spec.BaseDebian:
		if release == "sid" {
			// Unstable has no updates or security suite: updates land in
			// sid itself.
			return []Suite{{c.cfg.Debian, release}}, nil
		}
		return []Suite{{c.cfg.Debian, release}, {c.cfg.Debian, release + "-updates"}, {c.cfg.DebianSecurity, release + "-security"}}, nil
	case spec.BaseUbuntu:
		if debArch(arch) != "amd64" && debArch(arch) != "i386" {
			p := c.cfg.UbuntuPorts
			return []Suite{{p, release}, {p, release + "-updates"}, {p, release + "-security"}}, nil
		}
		return []Suite{{c.cfg.Ubuntu, release}, {c.cfg.Ubuntu, release + "-updates"}, {c.cfg.UbuntuSecurity, release + "-security"}}, nil
	}
	return nil, fmt.Errorf("%w (not %q)", ErrUnsupported, base)
}

// debArch maps an architecture to Debian's name for it.
func debArch(a string) string {
	switch a {
	case "", "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

func validWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// get fetches url and hands its body, bounded to max bytes, to fn. A
// status other than 200 is an error (errNotFound for 404).
func (c *Client) get(ctx context.Context, url string, max int64, fn func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("mirror: %s: %w", url, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("mirror: %s: HTTP %s", url, resp.Status)
	case resp.ContentLength > max:
		return fmt.Errorf("mirror: %s: %d bytes is larger than the limit of %d", url, resp.ContentLength, max)
	}
	body := &limited{r: resp.Body, left: max, what: url}
	if err := fn(body); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mirror: %s: %w", url, ctx.Err())
		}
		if body.over {
			// A parser may stumble on the cut-off end before it sees the
			// reader's error: the limit is the cause.
			return body.overErr()
		}
		return err
	}
	return nil
}

var errNotFound = errors.New("not found")

// limited reads at most left bytes and then fails with a clear error
// (io.LimitReader would end quietly: a truncated index would look whole).
type limited struct {
	r    io.Reader
	left int64
	what string
	over bool
}

func (l *limited) overErr() error { return fmt.Errorf("mirror: %s is larger than the limit", l.what) }

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a stream that ends exactly at the limit
		// from one that goes on.
		var one [1]byte
		for range 100 {
			n, err := l.r.Read(one[:])
			if n > 0 {
				l.over = true
				return 0, l.overErr()
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// IndexDate returns the newest Date of release's suites' InRelease files:
// when the archive last published anything for it. The suites are asked
// at once.
func (c *Client) IndexDate(ctx context.Context, base spec.Base, release string) (time.Time, error) {
	suites, err := c.Suites(base, release, "")
	if err != nil {
		return time.Time{}, err
	}
	dates := make([]time.Time, len(suites))
	errs := make([]error, len(suites))
	var wg sync.WaitGroup
	for i, s := range suites {
		wg.Go(func() {
			errs[i] = c.get(ctx, s.URL+"/dists/"+s.Name+"/InRelease", c.cfg.MaxIndex, func(r io.Reader) error {
				var err error
				dates[i], err = releaseDate(r)
				if err == nil && dates[i].After(c.cfg.Now().Add(maxAhead)) {
					// Taken as-is, a date ahead would make every later index
					// look older: the image would never be refreshed again.
					err = fmt.Errorf("InRelease: Date %s is in the future (more than %s ahead of this clock)",
						dates[i].Format(time.RFC1123), maxAhead)
				}
				return err
			})
		})
	}
	wg.Wait()
	var newest time.Time
	for i, d := range dates {
		// The first failing suite, in order, names the error.
		if errs[i] != nil {
			return time.Time{}, fmt.Errorf("%s %s: %w", suites[i].URL, suites[i].Name, errs[i])
		}
		if d.After(newest) {
			newest = d
		}
	}
	return newest, nil
}

// maxAhead is how far ahead of this machine's clock an index's Date may be
// (clock skew).
const maxAhead = 24 * time.Hour

// releaseDate reads the Date field of a Release file, clear-signed
// (InRelease) or not: the first paragraph's "Date:" line.
func releaseDate(r io.Reader) (time.Time, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), dpkg.MaxLine)
	date, n := "", 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "-----BEGIN PGP SIGNATURE") {
			break
		}
		if v, ok := strings.CutPrefix(line, "Date:"); ok {
			date = strings.TrimSpace(v)
			break
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return time.Time{}, fmt.Errorf("InRelease: line %d: longer than %d bytes", n+1, dpkg.MaxLine)
		}
		return time.Time{}, fmt.Errorf("InRelease: %w", err)
	}
	if date == "" {
		return time.Time{}, errors.New("InRelease: no Date field")
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, date); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("InRelease: Date %q is not an RFC 1123 date", date)
}

// Latest returns the newest version the updates and security suites of
// release (sid: sid itself) publish of each package in names (main, for arch; nil: every
// package). Packages neither suite has are absent from the map.
func (c *Client) Latest(ctx context.Context, base spec.Base, release, arch string, names map[string]bool) (map[string]string, error) {
	suites, err := c.Suites(base, release, arch)
	if err != nil {
		return nil, err
	}
	if len(suites) > 1 {
		suites = suites[1:] // the release itself does not change
	}
	out := map[string]string{}
	for _, s := range suites {
		if err := c.packages(ctx, s, debArch(arch), names, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// packages merges the versions of suite s's main Packages index into out,
// keeping the newest of each name. It reads Packages.xz (its dictionary
// bounded), else Packages.gz, else the plain Packages.
func (c *Client) packages(ctx context.Context, s Suite, arch string, names map[string]bool, out map[string]string) error {
	if !validWord(arch) {
		return fmt.Errorf("mirror: bad architecture %q", arch)
	}
	dir := s.URL + "/dists/" + s.Name + "/main/binary-" + arch + "/"
	read := func(name string, r io.Reader) error {
		lr := &limited{r: r, left: c.cfg.MaxPackages, what: "the index"}
		err := dpkg.Stanzas(lr, []string{"Package", "Version"}, func(f map[string]string) error {
			name, v := f["Package"], f["Version"]
			if (names != nil && !names[name]) || !dpkg.Valid(name, v) {
				return nil // not asked for, or not a name and version a manifest could hold: skipped
			}
			if old, ok := out[name]; ok {
				if cmp, err := dpkg.Compare(v, old); err != nil || cmp <= 0 {
					return nil
				}
			}
			out[name] = v
			return nil
		})
		if lr.over {
			// The scanner hands over the cut-off last line before the
			// reader's error: the limit is the cause.
			err = lr.overErr()
		}
		if err != nil {
			return fmt.Errorf("mirror: %s%s: %w", dir, name, err)
		}
		return nil
	}
	// Debian's updates and security suites serve Packages.xz alone (the
	// plain index their InRelease lists is not served); Ubuntu serves .xz
	// and .gz; a local mirror may serve the plain index only.
	formats := []struct {
		name string
		max  int64
		open func(io.Reader) (io.Reader, func(), error)
	}{
		{"Packages.xz", c.cfg.MaxCompressed, func(r io.Reader) (io.Reader, func(), error) {
			// Every block of every stream names the dictionary the decoder
			// allocates (up to 4 GiB): this decoder refuses one over
			// maxXZDict instead (xz -9 uses 64 MiB; Debian's indexes 8).
			zr, err := xzNew(r)
			return zr, func() {}, err
		}},
		{"Packages.gz", c.cfg.MaxCompressed, func(r io.Reader) (io.Reader, func(), error) {
			zr, err := gzip.NewReader(r) // a 32 KiB window
			if err != nil {
				return nil, nil, err
			}
			return zr, func() { _ = zr.Close() }, nil
		}},
		{"Packages", c.cfg.MaxPackages, func(r io.Reader) (io.Reader, func(), error) { return r, func() {}, nil }},
	}
	for _, f := range formats {
		err := c.get(ctx, dir+f.name, f.max, func(body io.Reader) error {
			zr, done, err := f.open(body)
			if err != nil {
				return fmt.Errorf("mirror: %s%s: %w", dir, f.name, err)
			}
			defer done()
			return read(f.name, zr)
		})
		if !errors.Is(err, errNotFound) {
			return err
		}
	}
	return fmt.Errorf("mirror: %s: no Packages.xz, Packages.gz or Packages: %w", dir, errNotFound)
}

// xzNew opens an xz reader over r with its dictionaries bounded.
func xzNew(r io.Reader) (io.Reader, error) {
	// Given data and io.EOF in one read, the decoder ends after the first
	// stream and quietly drops the rest of a concatenated file.
	zr, err := xz.NewReader(&errApart{r: r}, maxXZDict)
	return &xzErrors{zr}, err
}

// errApart hands over data and the error that came with it (io.EOF) in
// separate reads.
type errApart struct {
	r   io.Reader
	err error
}

func (e *errApart) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	if n > 0 && err != nil {
		e.err = err
		return n, nil
	}
	return n, err
}
