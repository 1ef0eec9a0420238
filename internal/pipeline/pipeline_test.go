package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// memStore is an in-memory Store that records every call.
type memStore struct {
	mu        sync.Mutex
	rec       RunRecord
	state     run.State
	reason    string
	steps     []run.State
	logs      []LogLine
	arts      []Artifact
	info      *SpecInfo
	hash      string
	cache     map[string][]Artifact
	failFinal bool
	diags     spec.Diagnostics
	partial   string
	// partialFailed is the last MarkPartial's Failed.
	partialFailed bool
}

var _ Store = (*memStore)(nil)

func (m *memStore) LoadRun(context.Context, int64) (*RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rec
	r.State = m.state
	return &r, nil
}
func (m *memStore) EnterStep(_ context.Context, _ int64, s run.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = s
	m.steps = append(m.steps, s)
	return nil
}
func (m *memStore) Finish(_ context.Context, _ int64, s run.State, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failFinal {
		return errors.New("database down")
	}
	m.state, m.reason = s, reason
	return nil
}
func (m *memStore) RecordSpec(_ context.Context, _ int64, info SpecInfo) error {
	m.info = &info
	return nil
}
func (m *memStore) RecordDiagnostics(_ context.Context, _ int64, d spec.Diagnostics) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.diags = d
	return nil
}
func (m *memStore) MarkPartial(_ context.Context, _ int64, p Partial) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.partial, m.partialFailed = p.Reason, p.Failed
	return nil
}
func (m *memStore) RecordHashes(_ context.Context, _ int64, h, _ string) error {
	m.hash = h
	return nil
}
func (m *memStore) AppendLogs(_ context.Context, lines []LogLine) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logs = append(m.logs, lines...)
	return nil
}
func (m *memStore) EachLog(_ context.Context, _ int64, fn func(LogLine) error) error {
	m.mu.Lock()
	lines := append([]LogLine(nil), m.logs...)
	m.mu.Unlock()
	for _, l := range lines {
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}
func (m *memStore) AddArtifact(_ context.Context, _ int64, a Artifact) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.arts = append(m.arts, a)
	return nil
}
func (m *memStore) CachedArtifacts(_ context.Context, h string) (Cached, error) {
	if arts, ok := m.cache[h]; ok {
		return Cached{Run: 99, Artifacts: arts}, nil
	}
	return Cached{}, ErrNoCache
}

type fakeContext struct{ hash string }

func (c fakeContext) ContextHash() string { return c.hash }
func (c fakeContext) SpecHash() string    { return "spec-" + c.hash }
func (c fakeContext) WriteTar(w io.Writer) error {
	_, err := w.Write([]byte("tar"))
	return err
}

type fakeRenderer struct{ hash string }

func (f fakeRenderer) Render(*spec.Document, spec.Diagnostics) (BuildContext, spec.Diagnostics, error) {
	return fakeContext(f), nil, nil
}

type fakeBuilder struct {
	fail    error
	block   bool
	removed []string
}

func (b *fakeBuilder) Build(ctx context.Context, _ BuildRequest, log func(string)) (string, error) {
	log("Step 1/2 : FROM debian:bookworm")
	if b.block {
		<-ctx.Done()
		return "sha256:partial", ctx.Err()
	}
	if b.fail != nil {
		return "", b.fail
	}
	return "sha256:img", nil
}
func (b *fakeBuilder) Save(_ context.Context, _ string, w io.Writer) error {
	_, err := w.Write([]byte(strings.Repeat("layer", 1000)))
	return err
}
func (b *fakeBuilder) Remove(_ context.Context, id string) error {
	b.removed = append(b.removed, id)
	return nil
}

type fakeISO struct{ fail error }

func (f fakeISO) Build(_ context.Context, req ISORequest, _ func(string)) error {
	if f.fail != nil {
		return f.fail
	}
	return os.WriteFile(req.Output, []byte("iso"), 0o644)
}

type fakeBoot struct{ fail map[Firmware]bool }

func (f fakeBoot) Boot(_ context.Context, req BootRequest, _ func(string)) (time.Duration, error) {
	if err := os.WriteFile(req.SerialLog, []byte("console "+req.Marker), 0o644); err != nil {
		return 0, err
	}
	if f.fail[req.Firmware] {
		return 0, errors.New("no marker")
	}
	return 30 * time.Second, nil
}

// orderReporter checks that every transition is in the store before it is
// announced.
type orderReporter struct {
	t     *testing.T
	store *memStore
	seen  []run.State
}

func (r *orderReporter) Transition(_ context.Context, _ int64, from, to run.State, _ string) {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	if r.store.state != to {
		r.t.Errorf("transition %s→%s announced while the store says %s", from, to, r.store.state)
	}
	r.seen = append(r.seen, to)
}
func (r *orderReporter) Log(context.Context, LogLine) {}

const goodSpec = "base: debian\npackages: [curl]\n"

func newTestPipeline(t *testing.T, src string, b *fakeBuilder, iso ISOBuilder, boot BootTester) (*Pipeline, *memStore, *orderReporter) {
	t.Helper()
	st := &memStore{rec: RunRecord{ID: 1, SpecPath: "linux-build.yaml", SpecSrc: []byte(src)}, state: run.Pending, cache: map[string][]Artifact{}}
	rep := &orderReporter{t: t, store: st}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ISO: iso, Boot: boot,
		Reporters: []Reporter{rep}, ArtifactsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return p, st, rep
}

func TestPipelineOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		spec      string
		builder   *fakeBuilder
		iso       ISOBuilder
		boot      BootTester
		cache     bool
		want      run.State
		steps     []run.State
		reason    string
		artifacts []string
		partial   string // the partial reason recorded, if any
		diags     int    // diagnostics recorded
	}{
		{name: "complete", spec: goodSpec, builder: &fakeBuilder{}, iso: fakeISO{}, boot: fakeBoot{},
			want: run.Complete, steps: []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.BootTesting},
			artifacts: []string{"spec.json", "image.tar.zst", "linux.iso", "boot-bios.log", "boot-uefi.log", "boot-uefi-secureboot.log", "build.log", "SHA256SUMS"}},
		{name: "invalid spec fails validation", spec: "base: debain\n", builder: &fakeBuilder{},
			want: run.Failed, steps: []run.State{run.Validating}, reason: `unknown value "debain"`, diags: 1},
		{name: "build failure", spec: goodSpec, builder: &fakeBuilder{fail: errors.New("E: Unable to locate package nope")},
			want: run.Failed, steps: []run.State{run.Validating, run.Generating, run.Building}, reason: "Unable to locate package nope"},
		{name: "iso failure is soft", spec: goodSpec, builder: &fakeBuilder{}, iso: fakeISO{fail: errors.New("grub-mkrescue: no xorriso")}, boot: fakeBoot{},
			want: run.Complete, steps: []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating}, reason: "ISO generation failed",
			artifacts: []string{"spec.json", "image.tar.zst", "build.log", "SHA256SUMS"}, partial: "ISO generation failed: grub-mkrescue"},
		{name: "boot failure is soft", spec: goodSpec, builder: &fakeBuilder{}, iso: fakeISO{}, boot: fakeBoot{fail: map[Firmware]bool{UEFI: true}},
			want: run.Complete, steps: []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.BootTesting}, reason: "boot test (uefi) failed",
			artifacts: []string{"spec.json", "image.tar.zst", "linux.iso", "boot-bios.log", "boot-uefi.log", "boot-uefi-secureboot.log", "build.log", "SHA256SUMS"}, partial: "did not boot (uefi)"},
		{name: "no iso configured", spec: goodSpec, builder: &fakeBuilder{},
			want: run.Complete, steps: []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating}, reason: "not configured", partial: "not configured"},
		{name: "cache hit", spec: goodSpec, builder: &fakeBuilder{fail: errors.New("must not build")}, cache: true,
			want: run.Complete, steps: []run.State{run.Validating, run.Generating}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, st, rep := newTestPipeline(t, tc.spec, tc.builder, tc.iso, tc.boot)
			// Every boot at once: which boots start before the first
			// failure cancels the rest must not depend on the scheduler.
			p.cfg.MaxBoots = 8
			if tc.cache {
				f := filepath.Join(t.TempDir(), "linux.iso")
				if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
				st.cache[tenantKey(0, p.cacheKey("h1", []spec.Output{spec.OutputISO}, false))] = []Artifact{{Name: "linux.iso", Type: run.ArtifactISO, Path: f}}
			}
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if st.state != tc.want || !strings.Contains(st.reason, tc.reason) {
				t.Fatalf("ended %s (%q), want %s containing %q", st.state, st.reason, tc.want, tc.reason)
			}
			if fmt.Sprint(st.steps) != fmt.Sprint(tc.steps) {
				t.Fatalf("steps %v, want %v", st.steps, tc.steps)
			}
			if fmt.Sprint(rep.seen) != fmt.Sprint(append(tc.steps, tc.want)) {
				t.Fatalf("announced %v", rep.seen)
			}
			var names []string
			for _, a := range st.arts {
				names = append(names, a.Name)
			}
			if tc.artifacts != nil && fmt.Sprint(names) != fmt.Sprint(tc.artifacts) {
				t.Fatalf("artifacts %v, want %v", names, tc.artifacts)
			}
			if tc.want == run.Failed && len(st.logs) == 0 {
				t.Fatal("a failed run has no log")
			}
			if (tc.partial == "") != (st.partial == "") || !strings.Contains(st.partial, tc.partial) {
				t.Fatalf("partial %q, want %q", st.partial, tc.partial)
			}
			if len(st.diags) != tc.diags || (tc.diags > 0 && st.diags[0].Pos.Line == 0) {
				t.Fatalf("diagnostics %+v, want %d with positions", st.diags, tc.diags)
			}
		})
	}
}

func TestPipelineCancelledMidBuild(t *testing.T) {
	b := &fakeBuilder{block: true}
	p, st, _ := newTestPipeline(t, goodSpec, b, fakeISO{}, fakeBoot{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			st.mu.Lock()
			s := st.state
			st.mu.Unlock()
			if s == run.Building {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := p.Run(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Cancelled {
		t.Fatalf("ended %s, want CANCELLED", st.state)
	}
	if fmt.Sprint(b.removed) != "[sha256:partial]" {
		t.Fatalf("partial image not removed: %v", b.removed)
	}
	entries, _ := os.ReadDir(filepath.Join(p.cfg.ArtifactsDir, "1"))
	for _, e := range entries {
		if e.Name() != "spec.json" {
			t.Fatalf("left behind %s", e.Name())
		}
	}
}

func TestPipelineSkipsEndedRuns(t *testing.T) {
	b := &fakeBuilder{fail: errors.New("must not run")}
	p, st, _ := newTestPipeline(t, goodSpec, b, nil, nil)
	st.state = run.Complete
	if err := p.Run(context.Background(), 1); err != nil || len(st.steps) != 0 {
		t.Fatalf("ran an ended run: %v %v", err, st.steps)
	}
}

func TestPipelineReturnsStoreFailures(t *testing.T) {
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
	st.failFinal = true
	if err := p.Run(context.Background(), 1); err == nil {
		t.Fatal("a run whose end could not be recorded reported success (River must retry it)")
	}
}

type fakePusher struct{ err error }

func (f fakePusher) Push(context.Context, string, string, func(string)) error { return f.err }

func TestPushFallsBackToTheTar(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantRef bool
	}{{"pushed", nil, true}, {"registry down", errors.New("connection refused"), false}} {
		t.Run(tc.name, func(t *testing.T) {
			p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
			p.cfg.Pusher, p.cfg.PushRepo = fakePusher{tc.err}, "registry.example/lb"
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			var ref, tarball bool
			for _, a := range st.arts {
				ref = ref || (a.Type == run.ArtifactImageRef && a.Path == "registry.example/lb:run-1")
				tarball = tarball || a.Name == "image.tar.zst"
			}
			if st.state != run.Complete || ref != tc.wantRef || !tarball {
				t.Fatalf("state %s, image ref %v, tar %v", st.state, ref, tarball)
			}
			if !tc.wantRef && !strings.Contains(st.reason, "pushing the image failed") {
				t.Fatalf("no warning about the failed push: %q", st.reason)
			}
		})
	}
}

// The image's size and sha256 are computed while it is written, and match
// the file.
func TestImageDigestComputedWhileStreaming(t *testing.T) {
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for _, a := range st.arts {
		if a.Name != "image.tar.zst" {
			continue
		}
		size, sum, err := hashFile(a.Path)
		if err != nil || size != a.Size || sum != a.SHA256 || size == 0 {
			t.Fatalf("recorded %d/%s, file %d/%s (%v)", a.Size, a.SHA256, size, sum, err)
		}
		return
	}
	t.Fatal("no image artifact")
}

// An image-only build does not satisfy a later build that wants an ISO.
func TestCacheKeyDependsOnOutputs(t *testing.T) {
	imageOnly, _, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
	withISO, _, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fakeBoot{})
	if imageOnly.cacheKey("h", nil, false) == withISO.cacheKey("h", nil, false) {
		t.Fatal("image-only and ISO builds share a cache key")
	}
}

func TestPipelineTimeoutFails(t *testing.T) {
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{block: true}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Failed || !strings.Contains(st.reason, "time limit during BUILDING") {
		t.Fatalf("ended %s: %q", st.state, st.reason)
	}
}

type fakeFetcher struct {
	src []byte
	err error
}

func (f fakeFetcher) FetchSpec(context.Context, *RunRecord) ([]byte, error) { return f.src, f.err }

func TestSpecFetching(t *testing.T) {
	t.Run("fetched", func(t *testing.T) {
		p, st, _ := newTestPipeline(t, "", &fakeBuilder{}, nil, nil)
		p.cfg.Fetcher = fakeFetcher{src: []byte(goodSpec)}
		if err := p.Run(context.Background(), 1); err != nil || st.state != run.Complete || st.info.Source != goodSpec {
			t.Fatalf("state %s, err %v, source %+v", st.state, err, st.info)
		}
	})
	t.Run("missing spec fails the run", func(t *testing.T) {
		p, st, _ := newTestPipeline(t, "", &fakeBuilder{}, nil, nil)
		p.cfg.Fetcher = fakeFetcher{err: fmt.Errorf("%w: 404", ErrSpecNotFound)}
		if err := p.Run(context.Background(), 1); err != nil || st.state != run.Failed || !strings.Contains(st.reason, "does not exist") {
			t.Fatalf("state %s (%q), err %v", st.state, st.reason, err)
		}
	})
	t.Run("GitHub down is retried", func(t *testing.T) {
		p, st, _ := newTestPipeline(t, "", &fakeBuilder{}, nil, nil)
		p.cfg.Fetcher = fakeFetcher{err: errors.New("502 Bad Gateway")}
		if err := p.Run(context.Background(), 1); err == nil || st.state.Terminal() {
			t.Fatalf("want an error for River to retry and an open run; got err %v, state %s", err, st.state)
		}
	})
}
