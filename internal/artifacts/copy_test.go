package artifacts

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCopy: a copy has the source's bytes under its own key, survives the
// source's deletion, and a missing source leaves nothing under dst.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			in := data(3, testPart+123)
			src, err := s.Put(ctx, "runs/1/image.tar.zst", bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Copy(ctx, "runs/2/image.tar.zst", src.Key)
			if err != nil || got.Size != src.Size || got.Key != "runs/2/image.tar.zst" {
				t.Fatalf("Copy = %+v, %v", got, err)
			}
			if err := s.Delete(ctx, src.Key); err != nil {
				t.Fatal(err)
			}
			r, _, err := s.Get(ctx, got.Key)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := io.Copy(io.Discard, Verify(r, Object{Key: got.Key, Size: src.Size, SHA256: src.SHA256})); err != nil {
				t.Fatalf("the copy's bytes: %v", err)
			}
			if _, err := s.Copy(ctx, "runs/3/x", "runs/1/missing"); !IsNotFound(err) {
				t.Fatalf("Copy of a missing source = %v, want not found", err)
			}
			if _, err := s.Stat(ctx, "runs/3/x"); !IsNotFound(err) {
				t.Fatalf("after a failed copy, Stat = %v", err)
			}
		})
	}
}

// The file store copies by hard link (a cache hit of an ISO costs no
// bytes), and the copy keeps its bytes when the source key is put again
// or deleted: objects are never written in place.
func TestFileCopyLinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := data(5, 1<<20)
	src, err := s.Put(ctx, "runs/1/linux.iso", bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, "runs/2/linux.iso", src.Key); err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(filepath.Join(dir, "runs/1/linux.iso"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(dir, "runs/2/linux.iso"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("the file store's copy is not a link of its source")
	}
	if _, err := s.Put(ctx, src.Key, bytes.NewReader([]byte("other"))); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Get(ctx, "runs/2/linux.iso")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, Verify(r, Object{Size: src.Size, SHA256: src.SHA256})); err != nil {
		t.Fatalf("the copy changed when its source was put again: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "runs/2"))
	if len(entries) != 1 {
		t.Errorf("runs/2 holds %d entries, want the copy alone", len(entries))
	}
}
