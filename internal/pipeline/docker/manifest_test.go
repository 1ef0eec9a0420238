package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// rootfs is a tar of the given entries (a name ending in "@" is a
// symbolic link to /etc/shadow).
func rootfs(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"var/", "var/lib/", "var/lib/dpkg/", "etc/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if n, ok := strings.CutSuffix(name, "@"); ok {
			h = &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow", Mode: 0o777}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

// TestDpkgStatusFromImage reads the status file of images imported on the
// real engine: present, absent, a link out of the file, over the limit.
func TestDpkgStatusFromImage(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"
	tests := []struct {
		name    string
		files   map[string]string
		max     int64
		want    string
		wantErr string
		noDB    bool
	}{
		{name: "status", files: map[string]string{"var/lib/dpkg/status": status, "etc/shadow": "root:secret"}, max: 1 << 20, want: status},
		{name: "no dpkg", files: map[string]string{"etc/shadow": "root:secret"}, max: 1 << 20, noDB: true},
		{name: "symlink out", files: map[string]string{"var/lib/dpkg/status@": "", "etc/shadow": "root:secret"}, max: 1 << 20, wantErr: "not a regular file"},
		{name: "over the limit", files: map[string]string{"var/lib/dpkg/status": status}, max: 10, wantErr: "over the limit"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("linux-builder-test/dpkg-status:%d-%d", time.Now().UnixNano(), i)
			if err := e.Import(ctx, rootfs(t, tc.files), ref, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = e.c.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
			})
			since := time.Now()
			before, _, err := e.Leftovers(ctx, "none", since)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.DpkgStatus(ctx, ref, tc.max)
			switch {
			case tc.noDB:
				if !errors.Is(err, pipeline.ErrNoPackageDB) {
					t.Fatalf("err = %v, want ErrNoPackageDB", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil || string(got) != tc.want {
					t.Fatalf("DpkgStatus = %q, %v", got, err)
				}
			}
			after, _, err := e.Leftovers(ctx, "none", since)
			if err != nil || after > before {
				t.Fatalf("containers left: %d → %d (%v)", before, after, err)
			}
		})
	}
}

// TestDpkgStatusOfTheBaseImage lists a real Debian system's packages.
func TestDpkgStatusOfTheBaseImage(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	status, err := e.DpkgStatus(ctx, "debian:bookworm", pipeline.MaxDpkgStatus)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := dpkg.ParseStatus(bytes.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range ps {
		found = found || p.Name == "libc6"
	}
	if len(ps) < 50 || !found {
		t.Fatalf("%d packages, libc6 among them: %v", len(ps), found)
	}
	t.Logf("%d packages installed, status file %d bytes", len(ps), len(status))
}
