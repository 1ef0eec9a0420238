package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// listingBuilder is a fakeBuilder whose images have a dpkg status file.
type listingBuilder struct {
	fakeBuilder
	status []byte
	err    error
	max    int64
}

var _ PackageLister = (*listingBuilder)(nil)

func (b *listingBuilder) DpkgStatus(_ context.Context, _ string, max int64) ([]byte, error) {
	b.max = max
	return b.status, b.err
}

func TestPackageManifest(t *testing.T) {
	const status = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n" +
		"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n\n" +
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n"
	tests := []struct {
		name     string
		builder  *listingBuilder
		manifest string // "" : no packages.txt
		log      string
	}{
		{name: "dpkg image", builder: &listingBuilder{status: []byte(status)},
			manifest: "libc6\t2.36-9+deb12u4\tamd64\nzlib1g\t1:1.2.13.dfsg-1\tamd64\n"},
		{name: "no dpkg", builder: &listingBuilder{err: ErrNoPackageDB}, log: "no dpkg package database"},
		{name: "hostile status", builder: &listingBuilder{status: []byte("Package: ../../x\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n")},
			log: "no package manifest: dpkg status: package name"},
		{name: "engine error", builder: &listingBuilder{err: errors.New("is not a regular file")}, log: "no package manifest: is not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{rec: RunRecord{ID: 1, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec)}, state: run.Pending, cache: map[string][]Artifact{}}
			dir := t.TempDir()
			p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: tc.builder, ArtifactsDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if st.state != run.Complete {
				t.Fatalf("ended %s: %s", st.state, st.reason)
			}
			if tc.builder.max != MaxDpkgStatus {
				t.Fatalf("asked for at most %d bytes", tc.builder.max)
			}
			var found *Artifact
			for i, a := range st.arts {
				if a.Name == "packages.txt" {
					found = &st.arts[i]
				}
			}
			if tc.manifest == "" {
				if found != nil {
					t.Fatalf("a manifest was recorded: %+v", found)
				}
			} else {
				if found == nil || found.Type != run.ArtifactManifest {
					t.Fatalf("no manifest artifact: %+v", st.arts)
				}
				b, err := os.ReadFile(filepath.Join(dir, "1", "packages.txt"))
				if err != nil || string(b) != tc.manifest {
					t.Fatalf("packages.txt = %q, %v; want %q", b, err, tc.manifest)
				}
				sums, _ := os.ReadFile(filepath.Join(dir, "1", "SHA256SUMS"))
				if !strings.Contains(string(sums), "packages.txt") {
					t.Fatalf("SHA256SUMS does not cover packages.txt:\n%s", sums)
				}
			}
			if tc.log != "" {
				var all []string
				for _, l := range st.logs {
					all = append(all, l.Message)
				}
				if !strings.Contains(strings.Join(all, "\n"), tc.log) {
					t.Fatalf("log lacks %q:\n%s", tc.log, strings.Join(all, "\n"))
				}
			}
		})
	}
}
