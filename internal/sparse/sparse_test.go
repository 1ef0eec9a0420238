package sparse

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A large, mostly empty disk is copied whole (the same bytes, the same
// size) and stays mostly empty: holes stay holes, written zeros become
// holes, and data at odd offsets and at the very end survive.
func TestCopyKeepsTheDataAndTheHoles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	const size = 3<<30 + 12345
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	pieces := map[int64][]byte{
		0:           []byte("GPT header"),
		1<<30 - 3:   []byte("across a block boundary"),
		2 << 30:     bytes.Repeat([]byte{0}, 4<<20), // written zeros
		size - 5:    []byte("tail!"),
		1<<20 + 100: bytes.Repeat([]byte("x"), 200<<10),
	}
	for off, b := range pieces {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	g, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	info, err := g.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != size {
		t.Fatalf("size %d, want %d", info.Size(), size)
	}
	for off, want := range pieces {
		got := make([]byte, len(want))
		if _, err := g.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("at %d: got %q…, want %q…", off, got[:min(16, len(got))], want[:min(16, len(want))])
		}
	}
	// Between the pieces: zeros.
	probe := make([]byte, 4096)
	for _, off := range []int64{4096, 1<<30 + 4096, 2<<30 + 8<<20, size - 8192} {
		if _, err := g.ReadAt(probe, off); err != nil {
			t.Fatal(err)
		}
		if !allZero(probe) {
			t.Errorf("at %d: not zeros", off)
		}
	}
	if used := info.Sys().(*syscall.Stat_t).Blocks * 512; used > 8<<20 {
		t.Errorf("the copy takes %d bytes on disk: its holes were filled", used)
	}
	if err := Copy(src, dst); err == nil {
		t.Error("Copy over an existing file succeeded")
	}
}
