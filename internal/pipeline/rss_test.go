package pipeline

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// streamBuilder's Save writes size bytes of semi-compressible data, like a
// large image's layers.
type streamBuilder struct {
	fakeBuilder
	size int64
}

func (b *streamBuilder) Save(_ context.Context, _ string, w io.Writer) error {
	block := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for written := int64(0); written < b.size; written += int64(len(block)) {
		// A quarter of the bytes random: compresses about 2:1, like
		// binaries, and no block repeats.
		for i := 0; i < len(block); i += 4 {
			block[i] = byte(rng.Uint32())
		}
		if _, err := w.Write(block); err != nil {
			return err
		}
	}
	return nil
}

func peakRSSKiB(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkSaveImageRSS streams a 3 GiB synthetic image through the same
// save path a build uses (docker save → zstd → file) and reports the
// process's peak resident memory, which must not grow with the image.
func BenchmarkSaveImageRSS(b *testing.B) {
	dir := b.TempDir()
	st := &memStore{rec: RunRecord{ID: 1}, state: run.Pending}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h"}, Builder: &fakeBuilder{}, ArtifactsDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	r := &execution{p: p, rec: &st.rec, dir: dir}
	r.p.cfg.Builder = &streamBuilder{size: 3 << 30}
	before := peakRSSKiB(b)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := r.saveImage(context.Background(), "img", filepath.Join(dir, "image.tar.zst")); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := peakRSSKiB(b)
	fi, _ := os.Stat(filepath.Join(dir, "image.tar.zst"))
	b.ReportMetric(float64(after)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(after-before)/1024, "RSS-growth-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "zst-MiB")
	b.SetBytes(3 << 30)
}
