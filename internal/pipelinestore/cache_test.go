package pipelinestore

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

type cacheContext struct{}

func (cacheContext) ContextHash() string        { return "ctx-1" }
func (cacheContext) SpecHash() string           { return "spec-1" }
func (cacheContext) WriteTar(w io.Writer) error { _, err := w.Write([]byte("tar")); return err }

type cacheRenderer struct{}

func (cacheRenderer) Render(*spec.Document, spec.Diagnostics) (pipeline.BuildContext, spec.Diagnostics, error) {
	return cacheContext{}, nil, nil
}

// countingBuilder counts the images it builds.
type countingBuilder struct{ builds int }

func (b *countingBuilder) Build(context.Context, pipeline.BuildRequest, func(string)) (string, error) {
	b.builds++
	return "sha256:img", nil
}
func (b *countingBuilder) Save(_ context.Context, _ string, w io.Writer) error {
	_, err := w.Write([]byte("image"))
	return err
}
func (b *countingBuilder) Remove(context.Context, string) error { return nil }

// flakyISO fails its first n builds (a full disk), then works.
type flakyISO struct{ fails int }

func (f *flakyISO) Build(_ context.Context, req pipeline.ISORequest, _ func(string)) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("write linux.iso: no space left on device")
	}
	return os.WriteFile(req.Output, []byte("iso"), 0o600)
}

// flakyBoot fails its first n boots (a slow, loaded machine), then works.
type flakyBoot struct{ fails int }

func (f *flakyBoot) Boot(_ context.Context, req pipeline.BootRequest, _ func(string)) (time.Duration, error) {
	if err := os.WriteFile(req.SerialLog, []byte("console"), 0o600); err != nil {
		return 0, err
	}
	if f.fails > 0 {
		f.fails--
		return 0, errors.New("no marker before the timeout")
	}
	return time.Second, nil
}

// A run whose ISO step or boot test failed ends successful with the image
// only; an identical later run must not reuse it (reporting success with
// no ISO, or with an ISO that never booted): it builds again. A partial
// result the configuration decides (no ISO builder) is reused, and the
// reusing run says why it has the image only.
func TestPartialResultsAndTheCache(t *testing.T) {
	tests := []struct {
		name        string
		noISO       bool // the pipeline has no ISO builder and no boot tester
		isoFails    int
		bootFails   int
		wantBuilds  int
		wantISO     bool   // the second run has linux.iso
		wantPartial string // the second run's partial reason contains
	}{
		{name: "a failed ISO is not reused", isoFails: 1, wantBuilds: 2, wantISO: true},
		{name: "an ISO that did not boot is not reused", bootFails: 2, wantBuilds: 2, wantISO: true},
		{name: "a complete run is reused", wantBuilds: 1, wantISO: true},
		{name: "an image-only configuration is reused with its reason", noISO: true, wantBuilds: 1, wantPartial: "ISO generation is not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
				ctx := context.Background()
				b := &countingBuilder{}
				cfg := pipeline.Config{Store: Store{DB: db}, Renderer: cacheRenderer{}, Builder: b,
					ArtifactsDir: t.TempDir(), Firmwares: []pipeline.Firmware{pipeline.BIOS, pipeline.UEFI}}
				if !tc.noISO {
					cfg.ISO, cfg.Boot = &flakyISO{fails: tc.isoFails}, &flakyBoot{fails: tc.bootFails}
				}
				p, err := pipeline.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				inst := int64(3)
				var last *store.Run
				for i := 0; i < 2; i++ {
					rn := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", SpecPath: "linux-build.yaml",
						SpecSource: "base: debian\npackages: [curl]\n", InstallationID: &inst}
					if err := db.CreateRun(ctx, rn); err != nil {
						t.Fatal(err)
					}
					if err := p.Run(ctx, rn.ID); err != nil {
						t.Fatal(err)
					}
					if last, err = db.Run(ctx, rn.ID); err != nil {
						t.Fatal(err)
					}
					if last.Status != run.StatusSuccess {
						t.Fatalf("run %d ended %s: %s", rn.ID, last.Status, last.FailureReason)
					}
				}
				if b.builds != tc.wantBuilds {
					t.Fatalf("%d image builds for two identical runs, want %d", b.builds, tc.wantBuilds)
				}
				arts, err := db.Artifacts(ctx, last.ID)
				if err != nil {
					t.Fatal(err)
				}
				hasISO := false
				for _, a := range arts {
					hasISO = hasISO || a.Name == "linux.iso"
				}
				if hasISO != tc.wantISO {
					t.Fatalf("second run has linux.iso: %v, want %v (artifacts %+v)", hasISO, tc.wantISO, arts)
				}
				if tc.wantPartial == "" && last.PartialReason != "" {
					t.Fatalf("second run is partial: %q", last.PartialReason)
				}
				if tc.wantPartial != "" && !strings.Contains(last.PartialReason, tc.wantPartial) {
					t.Fatalf("second run's partial reason %q, want it to say %q", last.PartialReason, tc.wantPartial)
				}
			})
		})
	}
}
