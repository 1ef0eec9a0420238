package iso

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// hostileStream writes n entries made by mk as a tar stream.
func hostileStream(t *testing.T, n int, mk func(i int) *tar.Header) io.Reader {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for i := 0; i < n; i++ {
			hdr := mk(i)
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if hdr.Size > 0 {
				if _, err := io.CopyN(tw, zeros{}, hdr.Size); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestRewriterMemoryIsBounded: what the rewriter keeps of an image does
// not grow with the image's names or its files under /etc/linux-builder.
func TestRewriterMemoryIsBounded(t *testing.T) {
	long := strings.Repeat("d", 200) + "/"
	cases := []struct {
		name string
		n    int
		mk   func(i int) *tar.Header
	}{
		{name: "20,000 symbolic links with 4 KiB names and targets", n: 20_000, mk: func(i int) *tar.Header {
			return &tar.Header{Typeflag: tar.TypeSymlink, Name: fmt.Sprintf("%s%d", strings.Repeat(long, 20), i), Linkname: strings.Repeat("x", 4000), Mode: 0o777}
		}},
		{name: "2,000 files of 64 KiB under /etc/linux-builder", n: 2_000, mk: func(i int) *tar.Header {
			return &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("etc/linux-builder/r%d", i), Size: 64 << 10, Mode: 0o644}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := heapInUse()
			found, err := rewrite(hostileStream(t, tc.n, tc.mk), io.Discard, t.TempDir(), Limits{}, []string{"etc"},
				func(*Rewritten) ([]file, error) { return nil, nil })
			if err != nil {
				t.Fatal(err)
			}
			grew := int64(heapInUse()) - int64(before)
			runtime.KeepAlive(found)
			if grew > 16<<20 {
				t.Errorf("the rewriter keeps %d MiB of the image", grew>>20)
			}
		})
	}
}

func TestBootNamesAreBounded(t *testing.T) {
	_, err := rewrite(hostileStream(t, 5_000, func(i int) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeSymlink, Name: fmt.Sprintf("boot/%s%d", strings.Repeat("n", 2000), i), Linkname: strings.Repeat("t", 2000), Mode: 0o777}
	}), io.Discard, t.TempDir(), Limits{}, nil, func(*Rewritten) ([]file, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "bytes of names") {
		t.Fatalf("20 MB of names under /boot: %v", err)
	}
}

func TestBootCapturesAreBounded(t *testing.T) {
	dir := t.TempDir()
	_, err := rewrite(hostileStream(t, 5_000, func(i int) *tar.Header {
		size := int64(0)
		if i%2 == 1 {
			size = 10
		}
		return &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("boot/f%d", i), Size: size, Mode: 0o644}
	}), io.Discard, dir, Limits{}, nil, func(*Rewritten) ([]file, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) > 64 {
		t.Errorf("%d files captured from /boot; at most 64", len(files))
	}
}

func TestOwnersTheSquashfsCannotHoldAreNobody(t *testing.T) {
	var out bytes.Buffer
	_, err := rewrite(hostileStream(t, 2, func(i int) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("usr/bin/su%d", i), Mode: 0o4755, Uid: 1<<32 + i, Gid: -1}
	}), &out, t.TempDir(), Limits{}, nil, func(*Rewritten) ([]file, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(hdr.Name, "usr/bin/su") && (hdr.Uid != 65534 || hdr.Gid != 65534) {
			t.Errorf("%s owned by %d:%d, want 65534:65534", hdr.Name, hdr.Uid, hdr.Gid)
		}
	}
}
