package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/linux-builder/linux-builder/internal/run"
)

// flatBuilder is a fakeBuilder that tells the built image's config and
// counts docker saves.
type flatBuilder struct {
	*fakeBuilder
	saves      int
	inspectErr error
}

var _ ImageInspector = (*flatBuilder)(nil)

func (b *flatBuilder) Save(ctx context.Context, id string, w io.Writer) error {
	b.saves++
	return b.fakeBuilder.Save(ctx, id, w)
}

func (b *flatBuilder) InspectImage(_ context.Context, ref string) (ImageInfo, bool, error) {
	if b.inspectErr != nil {
		return ImageInfo{}, false, b.inspectErr
	}
	info := testInfo
	info.ID = ref
	return info, true, nil
}

// teeISO writes the first upTo bytes of export (all when 0) to the
// request's tee, then fails, blocks until cancelled, or writes the ISO.
type teeISO struct {
	export []byte
	upTo   int
	fail   error
	block  bool
	teed   bool
}

func (f *teeISO) Build(ctx context.Context, req ISORequest, _ func(string)) error {
	if req.Tee != nil {
		f.teed = true
		n := len(f.export)
		if f.upTo > 0 {
			n = f.upTo
		}
		// The real step writes in pieces, as the engine streams.
		for b := f.export[:n]; len(b) > 0; {
			k := min(len(b), 4096)
			if _, err := req.Tee.Write(b[:k]); err != nil {
				return err
			}
			b = b[k:]
		}
	}
	switch {
	case f.block:
		<-ctx.Done()
		return ctx.Err()
	case f.fail != nil:
		return f.fail
	}
	return os.WriteFile(req.Output, []byte("iso"), 0o644)
}

// imageArtifact decompresses the run's image.tar.zst, checking that the
// recorded size and sha256 are the file's.
func imageArtifact(t *testing.T, st *memStore) []byte {
	t.Helper()
	for _, a := range st.arts {
		if a.Name != "image.tar.zst" {
			continue
		}
		size, sum, err := hashFile(a.Path)
		if err != nil || size != a.Size || sum != a.SHA256 {
			t.Fatalf("recorded %d %s, file %d %s (%v)", a.Size, a.SHA256, size, sum, err)
		}
		f, err := os.Open(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dec, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		b, err := io.ReadAll(dec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatal("no image.tar.zst artifact")
	return nil
}

// noPartFiles fails when the run's directory kept a spool or a part file.
func noPartFiles(t *testing.T, dir string) {
	t.Helper()
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if strings.HasSuffix(e.Name(), ".part") || strings.HasPrefix(e.Name(), ".iso-work") {
			t.Errorf("the run directory kept %s", e.Name())
		}
	}
}

func TestImageArtifactFromTheISOExport(t *testing.T) {
	layer := layerTar(t, map[string]string{"etc/os-release": "ID=debian\n", "usr/bin/tool": strings.Repeat("x", 50_000)})
	saved := strings.Repeat("layer", 1000) // what fakeBuilder.Save writes
	tests := []struct {
		name       string
		iso        *teeISO // nil: no ISO builder
		inspectErr error
		limit      int64
		want       run.State
		reason     string
		saves      int
		flattened  bool   // image.tar.zst is the flattened archive (else docker save's)
		log        string // a log line that says how
	}{
		{name: "the ISO step's export feeds the image", iso: &teeISO{export: layer}, want: run.Complete, flattened: true,
			log: "image.tar.zst: flattened image (one layer) from the ISO step's export"},
		{name: "no ISO builder: docker save", want: run.Complete, reason: "not configured", saves: 1, log: "image.tar.zst: docker save"},
		{name: "the ISO fails mid-export: docker save", iso: &teeISO{export: layer, upTo: 1000, fail: errors.New("export image: broken pipe")},
			want: run.Complete, reason: "ISO generation failed", saves: 1, log: "did not export the whole image"},
		{name: "the ISO fails after the export: docker save", iso: &teeISO{export: layer, fail: errors.New("grub-mkrescue: no xorriso")},
			want: run.Complete, reason: "ISO generation failed", saves: 1, log: "did not export the whole image"},
		{name: "the image's config can't be read: docker save", iso: &teeISO{export: layer}, inspectErr: errors.New("engine hiccup"),
			want: run.Complete, saves: 1, log: "config could not be read"},
		{name: "an export over the image limit fails the run", iso: &teeISO{export: layer}, limit: 10_000,
			want: run.Failed, reason: "larger than the limit of 10000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var iso ISOBuilder
			if tc.iso != nil {
				iso = tc.iso
			}
			p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, iso, nil)
			b := &flatBuilder{fakeBuilder: &fakeBuilder{}, inspectErr: tc.inspectErr}
			p.cfg.Builder = b
			if tc.limit > 0 {
				p.cfg.Limits.MaxImageBytes = tc.limit
			}
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if st.state != tc.want || !strings.Contains(st.reason, tc.reason) {
				t.Fatalf("ended %s (%q), want %s with %q", st.state, st.reason, tc.want, tc.reason)
			}
			noPartFiles(t, filepath.Join(p.cfg.ArtifactsDir, "1"))
			if b.saves != tc.saves {
				t.Errorf("%d docker saves, want %d", b.saves, tc.saves)
			}
			if tc.log != "" && !logHas(st, tc.log) {
				t.Errorf("no log line %q in:\n%s", tc.log, logText(st))
			}
			if tc.want != run.Complete {
				return
			}
			got := imageArtifact(t, st)
			if tc.flattened {
				_, l := checkArchive(t, readArchive(t, bytes.NewReader(got)), "linux-builder:1")
				if !bytes.Equal(l, layer) {
					t.Error("the image's layer is not the ISO step's export")
				}
			} else if string(got) != saved {
				t.Errorf("image.tar.zst is not docker save's tar (%d bytes)", len(got))
			}
		})
	}
}

// A run cancelled while the ISO step streams the export leaves neither a
// spool nor a part file nor an image.
func TestCancelledISOLeavesNoSpool(t *testing.T) {
	iso := &teeISO{export: layerTar(t, map[string]string{"f": strings.Repeat("y", 100_000)}), upTo: 50_000, block: true}
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, iso, nil)
	b := &flatBuilder{fakeBuilder: &fakeBuilder{}}
	p.cfg.Builder = b
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(p.cfg.ArtifactsDir, "1")
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, layerSpoolName)); err == nil {
				st.mu.Lock()
				s := st.state
				st.mu.Unlock()
				if s == run.ISOGenerating {
					cancel()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := p.Run(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Cancelled || !iso.teed || b.saves != 0 {
		t.Fatalf("ended %s, teed %v, %d saves", st.state, iso.teed, b.saves)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if e.Name() != "spec.json" {
			t.Errorf("left behind %s", e.Name())
		}
	}
}
