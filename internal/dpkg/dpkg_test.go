package dpkg

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Cases from dpkg's own tests (lib/dpkg/t/t-version.c) and policy §5.6.12.
func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "1.0-1", "1.0-1", 0},
		{"epoch wins", "1:0.1", "2.0", 1},
		{"tilde sorts first", "1.0~rc1", "1.0", -1},
		{"tilde before tilde-tilde", "1.0~~", "1.0~", -1},
		{"revision", "1.0-2", "1.0-10", -1},
		{"letters before non-letters", "1.0a", "1.0+", -1},
		{"numeric not lexical", "1.10", "1.9", 1},
		{"leading zeros", "1.001", "1.1", 0},
		{"security update", "2.36-9+deb12u7", "2.36-9+deb12u4", 1},
		{"ubuntu security", "3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.9", 1},
		{"plus sorts after end", "1.0+b1", "1.0", 1},
		{"native vs revision", "1.0", "1.0-0", 0},
		{"zero epoch", "0:1.2", "1.2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if sign(got) != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
			}
			back, _ := Compare(tt.b, tt.a)
			if sign(back) != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, not antisymmetric", tt.b, tt.a, back)
			}
		})
	}
	for _, bad := range []string{"", "a1.0", "1.0 2", "x:1.0", "1:", "1.0-a$"} {
		if _, err := Compare(bad, "1.0"); err == nil {
			t.Errorf("Compare(%q) accepted", bad)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

const status = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: base-files
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
Conffiles:
 /etc/debian_version 1234
`

func TestParseStatusAndManifest(t *testing.T) {
	ps, err := ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteManifest(&b, ps); err != nil {
		t.Fatal(err)
	}
	want := "base-files\t12.4+deb12u5\tamd64\nlibc6\t2.36-9+deb12u4\tamd64\n"
	if b.String() != want {
		t.Fatalf("manifest:\n%s\nwant:\n%s", b.String(), want)
	}
	back, err := ReadManifest(&b)
	if err != nil || len(back) != 2 || back[1] != ps[1] {
		t.Fatalf("round trip: %v, %v", back, err)
	}
}

func TestHostileStatus(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"huge line", "Package: a" + strings.Repeat("a", MaxLine+10) + "\n", "longer than"},
		{"no colon", "Package libc6\n", "not a \"Field: value\""},
		{"bad name", "Package: ../etc\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n", "not a Debian package name"},
		{"tab in version", "Package: ab\nStatus: install ok installed\nVersion: 1\t2\nArchitecture: amd64\n", "bad version"},
		{"no arch", "Package: ab\nStatus: install ok installed\nVersion: 1\n", "bad architecture"},
		{"binary", "\x00\x01\x02\n", "not a \"Field: value\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStatus(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadManifestRejects(t *testing.T) {
	for _, in := range []string{"libc6 2.36 amd64\n", "libc6\t2.36\n", "libc6\t2.36\tamd64\textra\n", "Libc6\t2.36\tamd64\n"} {
		if _, err := ReadManifest(strings.NewReader(in)); err == nil {
			t.Errorf("ReadManifest(%q) accepted", in)
		}
	}
}

func TestUpdates(t *testing.T) {
	installed := []Package{{"libc6", "2.36-9+deb12u4", "amd64"}, {"openssl", "3.0.15-1~deb12u1", "amd64"}, {"zlib1g", "1:1.2.13.dfsg-1", "amd64"}}
	latest := map[string]string{"libc6": "2.36-9+deb12u7", "openssl": "3.0.15-1~deb12u1", "zlib1g": "garbage!", "other": "9"}
	got := Updates(installed, latest)
	if len(got) != 1 || got[0] != (Update{"libc6", "2.36-9+deb12u4", "2.36-9+deb12u7"}) {
		t.Fatalf("Updates = %v", got)
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(status)
	f.Add("Package: a\n\n\n:")
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ParseStatus(strings.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteManifest(&b, ps); err != nil {
			t.Fatalf("a parsed status does not write: %v", err)
		}
		back, err := ReadManifest(&b)
		if err != nil || len(back) != len(ps) {
			t.Fatalf("round trip: %d → %d, %v", len(ps), len(back), err)
		}
	})
}

func TestValid(t *testing.T) {
	tests := []struct {
		name, pkg, version string
		want               bool
	}{
		{"plain", "libc6", "2.36-9+deb12u9", true},
		{"epoch", "openssl", "1:3.0.15-1~deb12u1", true},
		{"long version", "libc6", "1:" + strings.Repeat("9", 300), false},
		{"blank in version", "libc6", "1.0 2", false},
		{"not a version", "libc6", "not a version!", false},
		{"long name", strings.Repeat("a", 300), "1", false},
		{"upper case name", "LibC", "1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Valid(tt.pkg, tt.version); got != tt.want {
				t.Fatalf("Valid(%q, %q) = %v", tt.pkg, tt.version, got)
			}
		})
	}
}

// Attack: a manifest of every package at version 0 and an archive with
// all of them newer makes a huge record; the record keeps MaxRecorded
// updates and counts the rest.
func TestRecordUpdatesBounded(t *testing.T) {
	ups := make([]Update, 5000)
	for i := range ups {
		ups[i] = Update{Name: fmt.Sprintf("p%d", i), Old: "0", New: "1"}
	}
	rec, err := RecordUpdates(ups)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) > 100<<10 {
		t.Fatalf("record of %d bytes", len(rec))
	}
	got, more, err := ReadUpdates(rec)
	if err != nil || len(got) != MaxRecorded || more != 5000-MaxRecorded || got[0] != ups[0] {
		t.Fatalf("read back %d updates and %d more, %v", len(got), more, err)
	}
	// Records written as a plain list are read too.
	got, more, err = ReadUpdates(`[{"name":"libc6","old":"1","new":"2"}]`)
	if err != nil || len(got) != 1 || more != 0 || got[0].New != "2" {
		t.Fatalf("a plain list: %v %d %v", got, more, err)
	}
	if _, _, err := ReadUpdates("not json"); err == nil {
		t.Fatal("garbage read")
	}
}
