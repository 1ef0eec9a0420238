package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

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

func xzOf(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
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
		"/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz": xzOf(t, securityPackages),
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
	if err == nil || !strings.Contains(err.Error(), "Packages.gz: not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestLatestHostile(t *testing.T) {
	const path = "/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
	bomb := xzOf(t, strings.Repeat("Package: a\nVersion: 1\n\n", 200000)) // ~4.6 MB decompressed, a few KB compressed
	tests := []struct {
		name    string
		body    []byte
		cfg     Config
		wantErr string
	}{
		{"not xz", []byte("<html>captive portal</html>"), Config{}, "Packages.xz"},
		{"truncated xz", xzOf(t, securityPackages)[:40], Config{}, "Packages.xz"},
		{"decompression bomb", bomb, Config{MaxPackages: 1 << 20}, "larger than the limit"},
		{"compressed too big", bomb, Config{MaxCompressed: 100}, "larger than the limit"},
		{"huge line", xzOf(t, "Package: "+strings.Repeat("a", 2<<20)), Config{}, "longer than"},
		{"huge dictionary", hugeDictXZ(t), Config{}, "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := archive(t, map[string][]byte{path: tt.body,
				"/debian/dists/bookworm-updates/main/binary-amd64/Packages.xz": xzOf(t, "")})
			_, err := client(srv, tt.cfg).Latest(context.Background(), spec.BaseDebian, "bookworm", "amd64", map[string]bool{"a": true})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// hugeDictXZ is an xz stream whose block header asks for a 1.5 GiB
// dictionary.
func hugeDictXZ(t *testing.T) []byte {
	b := xzOf(t, securityPackages)
	h := b[12:]
	// Find the LZMA2 filter (id 0x21, one property byte) and raise its code.
	for i := 2; i+2 < (int(h[0])+1)*4; i++ {
		if h[i] == 0x21 && h[i+1] == 1 {
			h[i+2] = 39
			return b
		}
	}
	t.Fatal("no LZMA2 filter in the block header")
	return nil
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

func FuzzCheckXZDict(f *testing.F) {
	f.Add([]byte("\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46\x02\x00\x21\x01\x16\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = checkXZDict(bytes.NewReader(in))
	})
}
