package iso

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// TestTeeGetsTheExportVerbatim: the tee receives the export's bytes, all
// of them and untouched, hostile entries included (the rewriter drops them
// from the live system, not from the copy).
func TestTeeGetsTheExportVerbatim(t *testing.T) {
	entries := image(symlink("etc/machine-id", "/etc/shadow"), reg("../escape", "x"), dir("data"), reg("data/f", strings.Repeat("z", 100_000)))
	var want bytes.Buffer
	if err := (tarExporter{entries: entries}).Export(context.Background(), "", &want); err != nil {
		t.Fatal(err)
	}
	var tee bytes.Buffer
	out := filepath.Join(t.TempDir(), "linux.iso")
	b := &Builder{Exporter: tarExporter{entries: entries}}
	if err := b.Build(context.Background(), pipeline.ISORequest{Image: "img", Output: out, VolumeID: "LINUXBUILDER", Tee: &tee}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tee.Bytes(), want.Bytes()) {
		t.Errorf("the tee got %d bytes, the export was %d bytes (or they differ)", tee.Len(), want.Len())
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("tee is full")
	}
	return len(p), nil
}

// TestTeeFailureStopsTheExport: a tee over its bounds stops the export and
// fails the step; no ISO is left.
func TestTeeFailureStopsTheExport(t *testing.T) {
	run := t.TempDir()
	out := filepath.Join(run, "linux.iso")
	b := &Builder{Exporter: tarExporter{entries: image(reg("big", strings.Repeat("z", 1<<20)))}}
	err := b.Build(context.Background(), pipeline.ISORequest{Image: "img", Output: out, VolumeID: "LINUXBUILDER", Tee: &failingWriter{after: 64 << 10}}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "tee is full") {
		t.Fatalf("err = %v, want the tee's error", err)
	}
	if left, _ := os.ReadDir(run); len(left) != 0 {
		t.Errorf("the run directory kept %v", left)
	}
}
