package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/spec"
)

func inRelease(date string) string {
	return `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian-Security
Suite: stable-security
Codename: bookworm-security
Date: ` + date + `
Valid-Until: Sat, 07 Dec 2024 10:09:52 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x
Components: updates/main updates/contrib updates/non-free updates/non-free-firmware
Description: Debian 12 - Security Updates
SHA256:
 0e5b7ffb8bd4b8cc5ed8a3b5dc38d0b5a0f4a0b5dd6a2b8e1a2e1b87a3c9b0c8   123 main/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEE...
-----END PGP SIGNATURE-----
`
}

func gzOf(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

const securityPackages = `Package: libc6
Source: glibc
Version: 2.36-9+deb12u7
Architecture: amd64
Description: GNU C Library
 long text

Package: libc6
Version: 2.36-9+deb12u9
Architecture: amd64

Package: openssl
Version: 3.0.15-1~deb12u1
Architecture: amd64

Package: bogus
Version: not a version!
`

const updatesPackages = `Package: tzdata
Version: 2024b-0+deb12u1
Architecture: all

Package: libc6
Version: 2.36-9+deb12u8
`

// archive serves files by path; others are 404.
func archive(t *testing.T, files map[string][]byte) (*httptest.Server, *int) {
	t.Helper()
	hits := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*hits++
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func client(srv *httptest.Server, cfg Config) *Client {
	cfg.Debian, cfg.DebianSecurity = srv.URL+"/debian", srv.URL+"/debian-security"
	cfg.Ubuntu, cfg.UbuntuSecurity, cfg.UbuntuPorts = srv.URL+"/ubuntu", srv.URL+"/ubuntu-sec", srv.URL+"/ports"
	return New(cfg)
}

func TestIndexDate(t *testing.T) {
	srv, _ := archive(t, map[string][]byte{
		"/debian/dists/bookworm/InRelease":                   []byte(inRelease("Sat, 09 Nov 2024 10:09:52 UTC")),
		"/debian/dists/bookworm-updates/InRelease":           []byte(inRelease("Mon, 25 Nov 2024 20:12:01 UTC")),
		"/debian-security/dists/bookworm-security/InRelease": []byte(inRelease("Fri, 29 Nov 2024 01:02:03 +0000")),
	})
	got, err := client(srv, Config{}).IndexDate(context.Background(), spec.BaseDebian, "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 11, 29, 1, 2, 3, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("IndexDate = %v, want %v", got, want)
	}
}

func TestIndexDateErrors(t *testing.T) {
	big := strings.Repeat("X-Padding: x\n", 1<<17) + "Date: Sat, 09 Nov 2024 10:09:52 UTC\n"
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"no date", "Origin: Debian\n", "no Date"},
		{"bad date", "Date: yesterday\n", "not an RFC 1123 date"},
		{"garbage", "\x00\x01garbage", "no Date"},
		{"date after the signature", "-----BEGIN PGP SIGNATURE-----\nDate: Sat, 09 Nov 2024 10:09:52 UTC\n", "no Date"},
		{"too big", big, "larger than the limit"},
		{"huge line", "Date: " + strings.Repeat("x", 2<<20), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := archive(t, map[string][]byte{"/debian/dists/bookworm/InRelease": []byte(tt.body)})
			_, err := client(srv, Config{}).IndexDate(context.Background(), spec.BaseDebian, "bookworm")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	srv, _ := archive(t, nil)
	if _, err := client(srv, Config{}).IndexDate(context.Background(), spec.BaseFedora, "40"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("fedora: %v", err)
	}
	if _, err := client(srv, Config{}).IndexDate(context.Background(), spec.BaseDebian, "../../etc"); err == nil {
		t.Fatal("a release with slashes was accepted")
	}
}

func TestLatest(t *testing.T) {
	srv, _ := archive(t, map[string][]byte{
		"/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz": testdata(t, "security.xz"),
		// The updates suite has no .xz here: the .gz is read.
		"/debian/dists/bookworm-updates/main/binary-amd64/Packages.gz": gzOf(updatesPackages),
	})
	want := map[string]bool{"libc6": true, "openssl": true, "tzdata": true, "bogus": true, "absent": true}
	got, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "x86_64", want)
	if err != nil {
		t.Fatal(err)
	}
	exp := map[string]string{"libc6": "2.36-9+deb12u9", "openssl": "3.0.15-1~deb12u1", "tzdata": "2024b-0+deb12u1"}
	if len(got) != len(exp) {
		t.Fatalf("Latest = %v, want %v", got, exp)
	}
	for k, v := range exp {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestUbuntuSuites(t *testing.T) {
	c := New(Config{})
	s, err := c.Suites(spec.BaseUbuntu, "noble", "amd64")
	if err != nil || s[2] != (Suite{DefaultUbuntuSecurity, "noble-security"}) || s[1] != (Suite{DefaultUbuntu, "noble-updates"}) {
		t.Fatalf("amd64: %v %v", s, err)
	}
	s, err = c.Suites(spec.BaseUbuntu, "noble", "arm64")
	if err != nil || s[2] != (Suite{DefaultUbuntuPorts, "noble-security"}) {
		t.Fatalf("arm64: %v %v", s, err)
	}
}

func TestLatestMissingSuite(t *testing.T) {
	srv, _ := archive(t, nil)
	_, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", map[string]bool{"a": true})
	if err == nil || !strings.Contains(err.Error(), "no Packages.xz, Packages.gz or Packages") {
		t.Fatalf("err = %v", err)
	}
}

func TestLatestHostile(t *testing.T) {
	const dir = "/debian-security/dists/bookworm-security/main/binary-amd64/"
	stanzas := strings.Repeat("Package: a\nVersion: 1\n\n", 200000) // ~4.6 MB
	bomb := gzOf(stanzas)                                           // a few KB compressed
	tests := []struct {
		name    string
		file    string
		body    []byte
		cfg     Config
		wantErr string
	}{
		{"not xz", "Packages.xz", []byte("<html>captive portal</html>"), Config{}, "Packages.xz"},
		{"truncated xz", "Packages.xz", testdata(t, "security.xz")[:40], Config{}, "Packages.xz"},
		{"xz decompression bomb", "Packages.xz", testdata(t, "many.xz"), Config{MaxPackages: 1 << 20}, "larger than the limit"},
		{"xz huge line", "Packages.xz", testdata(t, "hugeline.xz"), Config{}, "longer than"},
		{"xz dictionary over the limit", "Packages.xz", xzBomb(t), Config{}, "dictionary"},
		{"not gzip", "Packages.gz", []byte("<html>captive portal</html>"), Config{}, "Packages.gz"},
		{"truncated gzip", "Packages.gz", gzOf(securityPackages)[:40], Config{}, "Packages.gz"},
		{"decompression bomb", "Packages.gz", bomb, Config{MaxPackages: 1 << 20}, "larger than the limit"},
		{"compressed too big", "Packages.gz", bomb, Config{MaxCompressed: 100}, "larger than the limit"},
		{"plain index too big", "Packages", []byte(stanzas), Config{MaxPackages: 1 << 20}, "larger than the limit"},
		{"huge line", "Packages.gz", gzOf("Package: " + strings.Repeat("a", 2<<20)), Config{}, "longer than"},
		{"huge plain line", "Packages", []byte("Package: " + strings.Repeat("a", 2<<20)), Config{}, "longer than"},
		{"garbage", "Packages", []byte("\x00\x01\xff garbage\n\n:::\n"), Config{}, "not a \"Field: value\" line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := archive(t, map[string][]byte{dir + tt.file: tt.body,
				"/debian/dists/bookworm-updates/main/binary-amd64/Packages": nil})
			_, err := client(srv, tt.cfg).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", map[string]bool{"a": true})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// testdata reads testdata/name (made with Python's lzma module).
func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	start := time.Now()
	_, err := client(srv, Config{Timeout: 200 * time.Millisecond}).IndexDate(context.Background(), spec.BaseDebian, "bookworm")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client(srv, Config{}).IndexDate(ctx, spec.BaseDebian, "bookworm"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func FuzzReleaseDate(f *testing.F) {
	f.Add(inRelease("Sat, 09 Nov 2024 10:09:52 UTC"))
	f.Add("Date:\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = releaseDate(strings.NewReader(in))
	})
}

// Attack: a Packages.xz whose second stream asks for a 1.5 GiB
// dictionary. The xz reader the client first used allocated whatever a
// block header asked, and a guard that read the first block only was
// bypassed; the decoder now refuses any block over 64 MiB.
func TestXZDictionaryBounded(t *testing.T) {
	srv, _ := archive(t, map[string][]byte{
		"/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz": xzBomb(t),
		"/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz":           testdata(t, "empty.xz"),
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", map[string]bool{"libc6": true})
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("reading the index allocated %d MiB", alloc>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Fatalf("err = %v, want the dictionary refused", err)
	}
}

// xzBomb is testdata/bomb.xz: an xz file of two streams, a small index,
// then a block whose header (CRC and all) asks for a 1.5 GiB LZMA2
// dictionary. Made with Python's lzma, the dictionary code raised to 39.
func xzBomb(t *testing.T) []byte {
	t.Helper()
	return testdata(t, "bomb.xz")
}

// Each format is read where the archive has it: xz, else gzip, else the
// plain index.
func TestLatestFormats(t *testing.T) {
	for _, tt := range []struct {
		file string
		body []byte
	}{{"Packages.xz", testdata(t, "security.xz")}, {"Packages.gz", gzOf(securityPackages)}, {"Packages", []byte(securityPackages)}} {
		srv, _ := archive(t, map[string][]byte{
			"/debian-security/dists/bookworm-security/main/binary-amd64/" + tt.file: tt.body,
			"/debian/dists/bookworm-updates/main/binary-amd64/Packages":             nil,
		})
		got, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", map[string]bool{"libc6": true})
		if err != nil || got["libc6"] != "2.36-9+deb12u9" {
			t.Errorf("%s: %v, %v", tt.file, got, err)
		}
	}
}

// Attack: a hostile (or broken) archive dates its index far in the
// future; taken as-is, every later index would look older and the system
// image would never be refreshed again.
func TestIndexDateInTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, date string
		wantErr    bool
	}{
		{"an hour ahead (clock skew)", "Tue, 01 Dec 2026 01:00:00 UTC", false},
		{"a day ahead", "Wed, 02 Dec 2026 00:00:00 UTC", false},
		{"two days ahead", "Thu, 03 Dec 2026 00:00:00 UTC", true},
		{"in 2099", "Thu, 01 Jan 2099 00:00:00 UTC", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := archive(t, map[string][]byte{
				"/debian/dists/bookworm/InRelease":                   []byte(inRelease("Sat, 09 Nov 2024 10:09:52 UTC")),
				"/debian/dists/bookworm-updates/InRelease":           []byte(inRelease(tt.date)),
				"/debian-security/dists/bookworm-security/InRelease": []byte(inRelease("Fri, 29 Nov 2024 01:02:03 +0000")),
			})
			_, err := client(srv, Config{Now: func() time.Time { return now }}).IndexDate(context.Background(), spec.BaseDebian, "bookworm")
			if (err != nil) != tt.wantErr || (err != nil && !strings.Contains(err.Error(), "in the future")) {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}

// The spec allows version numbers for releases; the archive names its
// suites by codename. sid has no updates or security suite.
func TestSuiteNames(t *testing.T) {
	c := New(Config{})
	tests := []struct {
		base          spec.Base
		release, arch string
		want          []string
	}{
		{spec.BaseDebian, "12", "amd64", []string{"bookworm", "bookworm-updates", "bookworm-security"}},
		{spec.BaseDebian, "11", "amd64", []string{"bullseye", "bullseye-updates", "bullseye-security"}},
		{spec.BaseDebian, "13", "amd64", []string{"trixie", "trixie-updates", "trixie-security"}},
		{spec.BaseDebian, "sid", "amd64", []string{"sid"}},
		{spec.BaseDebian, "unstable", "amd64", []string{"sid"}},
		{spec.BaseUbuntu, "24.04", "amd64", []string{"noble", "noble-updates", "noble-security"}},
		{spec.BaseUbuntu, "22.04", "arm64", []string{"jammy", "jammy-updates", "jammy-security"}},
		{spec.BaseUbuntu, "20.04", "amd64", []string{"focal", "focal-updates", "focal-security"}},
		{spec.BaseUbuntu, "24.10", "amd64", []string{"oracular", "oracular-updates", "oracular-security"}},
		{spec.BaseUbuntu, "25.04", "amd64", []string{"plucky", "plucky-updates", "plucky-security"}},
		{spec.BaseUbuntu, "noble", "amd64", []string{"noble", "noble-updates", "noble-security"}},
	}
	for _, tt := range tests {
		s, err := c.Suites(tt.base, tt.release, tt.arch)
		var got []string
		for _, x := range s {
			got = append(got, x.Name)
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s %s: %v %v, want %v", tt.base, tt.release, got, err, tt.want)
		}
	}
	// Every release the spec allows for Debian and Ubuntu has a suite name.
	for _, base := range []spec.Base{spec.BaseDebian, spec.BaseUbuntu} {
		for _, r := range spec.KnownReleases[base] {
			s, err := c.Suites(base, string(r), "amd64")
			if err != nil || strings.ContainsAny(s[0].Name, "0123456789") {
				t.Errorf("%s %s: suites %v, %v", base, r, s, err)
			}
		}
	}
}

// sid's packages are compared with sid itself, asked once.
func TestLatestSid(t *testing.T) {
	srv, hits := archive(t, map[string][]byte{
		"/debian/dists/sid/main/binary-amd64/Packages": []byte(securityPackages),
	})
	got, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "sid", "amd64", map[string]bool{"libc6": true})
	if err != nil || got["libc6"] != "2.36-9+deb12u9" || *hits != 3 { // sid alone, in 3 formats
		t.Fatalf("Latest = %v, %v after %d requests", got, err, *hits)
	}
}

// Attack: an index's versions and names are bounded as a manifest's are
// (256 characters, no blanks): a huge version is not an update to record.
func TestLatestBoundsVersions(t *testing.T) {
	huge := "1:" + strings.Repeat("9", 300)
	srv, _ := archive(t, map[string][]byte{
		"/debian-security/dists/bookworm-security/main/binary-amd64/Packages": []byte("Package: libc6\nVersion: " + huge +
			"\n\nPackage: openssl\nVersion: 3.0.16\n\nPackage: " + strings.Repeat("a", 300) + "\nVersion: 1\n"),
		"/debian/dists/bookworm-updates/main/binary-amd64/Packages": nil,
	})
	got, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["openssl"] != "3.0.16" {
		t.Fatalf("Latest = %v; want openssl alone", got)
	}
}

// A Packages.xz of concatenated streams is read to its end (served whole
// in one read, the decoder used to stop after the first stream).
func TestXZStreams(t *testing.T) {
	srv, _ := archive(t, map[string][]byte{
		"/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz": testdata(t, "two.xz"),
		"/debian/dists/bookworm-updates/main/binary-amd64/Packages":              nil,
	})
	got, err := client(srv, Config{}).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", nil)
	if err != nil || got["libc6"] != "9" || got["openssl"] != "9" {
		t.Fatalf("Latest = %v, %v", got, err)
	}
}
