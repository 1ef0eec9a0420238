package pipelinestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
)

func fileStore(t *testing.T) (*artifacts.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := artifacts.Open(context.Background(), artifacts.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// A run that starts over deletes what its dead attempt put in the store
// (the restart dropped the rows, so nothing else would), and only that:
// run 50's objects stay when run 5 starts over.
func TestDeleteRunObjectsDeletesOnlyThatRun(t *testing.T) {
	ctx := context.Background()
	s, _ := fileStore(t)
	for _, k := range []string{"runs/5/linux.iso", "runs/5/boot-bios.log", "runs/50/linux.iso", "runs/6/spec.json"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	a := Artifacts{Store: s}
	n, err := a.DeleteRunObjects(ctx, 5)
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v; want run 5's 2 objects", n, err)
	}
	var left []string
	if err := s.List(ctx, "runs/", func(o artifacts.Object) error { left = append(left, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, ",") != "runs/50/linux.iso,runs/6/spec.json" {
		t.Fatalf("left %v", left)
	}
	if _, err := a.DeleteRunObjects(ctx, 0); err == nil {
		t.Fatal("run 0 accepted")
	}
}

// A superseded attempt writes no object: the fence is checked before the
// upload, so the new attempt's object under the same key stays.
func TestFencedUploadWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, dir := fileStore(t)
	src := filepath.Join(t.TempDir(), "linux.iso")
	if err := os.WriteFile(src, []byte("stale attempt's ISO"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := Artifacts{Store: s, Fence: func(context.Context) error { return run.ErrSuperseded }}
	if _, err := a.Upload(ctx, 9, "linux.iso", src); !errors.Is(err, run.ErrSuperseded) {
		t.Fatalf("Upload returned %v, want run.ErrSuperseded", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "9", "linux.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the fenced upload wrote its object: %v", err)
	}
	if _, err := a.DeleteRunObjects(ctx, 9); !errors.Is(err, run.ErrSuperseded) {
		t.Fatalf("a fenced sweep returned %v", err)
	}
}
