package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

const sysTag = "linux-builder-system:0123456789abcdef01234567"

// sysContext is a spec's context that starts FROM the system image sysTag.
type sysContext struct{ fakeContext }

func (sysContext) BaseImage() string { return "debian:bookworm" }
func (sysContext) System() (string, BuildContext) {
	return sysTag, fakeContext{"system"}
}

var _ SystemImager = sysContext{}

// sysRenderer renders every spec to a context of its own (by its source),
// all sharing sysTag.
type sysRenderer struct{}

func (sysRenderer) Render(doc *spec.Document, _ spec.Diagnostics) (BuildContext, spec.Diagnostics, error) {
	return sysContext{fakeContext{"ctx-" + string(doc.Spec.Name)}}, nil, nil
}

// sysEngine is an engine fake with images, their labels, a base image ID
// and a gate that holds system builds.
type sysEngine struct {
	fakeBuilder
	mu       sync.Mutex
	baseID   string
	images   map[string]ImageInfo
	reqs     []BuildRequest
	inspects int
	gate     chan struct{} // when set, system builds wait for it
	started  chan struct{} // when set, told when a system build starts
}

var (
	_ ImageBuilder   = (*sysEngine)(nil)
	_ ImageInspector = (*sysEngine)(nil)
)

func (e *sysEngine) ImageID(context.Context, string) (string, error) { return e.baseID, nil }

func (e *sysEngine) InspectImage(_ context.Context, ref string) (ImageInfo, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inspects++
	info, ok := e.images[ref]
	return info, ok, nil
}

func (e *sysEngine) Build(ctx context.Context, req BuildRequest, log func(string)) (string, error) {
	e.mu.Lock()
	e.reqs = append(e.reqs, req)
	gate, started := e.gate, e.started
	e.mu.Unlock()
	if req.Tag == sysTag {
		if started != nil {
			started <- struct{}{}
		}
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		log("Step 1/3 : FROM debian:bookworm")
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.images == nil {
			e.images = map[string]ImageInfo{}
		}
		id := fmt.Sprintf("sha256:system%d", len(e.reqs))
		e.images[sysTag] = ImageInfo{ID: id, Labels: req.Labels}
		return id, nil
	}
	return e.fakeBuilder.Build(ctx, req, log)
}

func (e *sysEngine) Save(ctx context.Context, id string, w io.Writer) error {
	return e.fakeBuilder.Save(ctx, id, w)
}

// systemBuilds counts the engine's builds of the system image, and
// whether the last asked for no cache.
func (e *sysEngine) systemBuilds() (n int, last BuildRequest) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.reqs {
		if r.Tag == sysTag {
			n++
			last = r
		}
	}
	return n, last
}

// fakeProber answers a fixed date or error, and counts questions.
type fakeProber struct {
	mu    sync.Mutex
	date  time.Time
	err   error
	calls int
}

func (f *fakeProber) IndexDate(context.Context, spec.Base, string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.date, f.err
}

// multiStore is a Store of several runs, one memStore each.
type multiStore struct {
	mu   sync.Mutex
	runs map[int64]*memStore
}

func (m *multiStore) of(id int64) *memStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[id]
}

func (m *multiStore) LoadRun(ctx context.Context, id int64) (*RunRecord, error) {
	return m.of(id).LoadRun(ctx, id)
}
func (m *multiStore) EnterStep(ctx context.Context, id int64, s run.State) error {
	return m.of(id).EnterStep(ctx, id, s)
}
func (m *multiStore) Finish(ctx context.Context, id int64, s run.State, reason string) error {
	return m.of(id).Finish(ctx, id, s, reason)
}
func (m *multiStore) RecordSpec(ctx context.Context, id int64, info SpecInfo) error {
	return m.of(id).RecordSpec(ctx, id, info)
}
func (m *multiStore) RecordHashes(ctx context.Context, id int64, key, h string) error {
	return m.of(id).RecordHashes(ctx, id, key, h)
}
func (m *multiStore) RecordDiagnostics(ctx context.Context, id int64, d spec.Diagnostics) error {
	return m.of(id).RecordDiagnostics(ctx, id, d)
}
func (m *multiStore) MarkPartial(ctx context.Context, id int64, p Partial) error {
	return m.of(id).MarkPartial(ctx, id, p)
}
func (m *multiStore) AppendLogs(ctx context.Context, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return m.of(lines[0].RunID).AppendLogs(ctx, lines)
}
func (m *multiStore) EachLog(ctx context.Context, id int64, fn func(LogLine) error) error {
	return m.of(id).EachLog(ctx, id, fn)
}
func (m *multiStore) AddArtifact(ctx context.Context, id int64, a Artifact) error {
	return m.of(id).AddArtifact(ctx, id, a)
}
func (m *multiStore) CachedArtifacts(context.Context, string) (Cached, error) {
	return Cached{}, ErrNoCache
}

// sysHarness runs specs on one pipeline over one engine.
type sysHarness struct {
	t      *testing.T
	p      *Pipeline
	st     *multiStore
	eng    *sysEngine
	prober *fakeProber
	now    time.Time
	next   int64
}

func newSysHarness(t *testing.T, prober *fakeProber) *sysHarness {
	t.Helper()
	h := &sysHarness{t: t, st: &multiStore{runs: map[int64]*memStore{}}, eng: &sysEngine{baseID: "sha256:base1"}, prober: prober,
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{Store: h.st, Renderer: sysRenderer{}, Builder: h.eng, ArtifactsDir: t.TempDir(),
		Now: func() time.Time { return h.now }}
	if prober != nil {
		cfg.Index = prober
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	return h
}

// add makes a run of a spec named name.
func (h *sysHarness) add(name string, noCache bool) int64 {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.next++
	id := h.next
	h.st.runs[id] = &memStore{rec: RunRecord{ID: id, NoCache: noCache, SpecPath: "linux-build.yaml",
		SpecSrc: []byte("name: " + name + "\nbase: debian\npackages: [curl]\n")}, state: run.Pending, cache: map[string][]Artifact{}}
	return id
}

// run runs a spec to its end and returns its store.
func (h *sysHarness) run(name string, noCache bool) *memStore {
	h.t.Helper()
	id := h.add(name, noCache)
	if err := h.p.Run(context.Background(), id); err != nil {
		h.t.Fatal(err)
	}
	st := h.st.of(id)
	if st.state != run.Complete {
		h.t.Fatalf("%s ended %s: %s", name, st.state, st.reason)
	}
	return st
}

func logHas(st *memStore, sub string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, l := range st.logs {
		if strings.Contains(l.Message, sub) {
			return true
		}
	}
	return false
}

func logText(st *memStore) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var b strings.Builder
	for _, l := range st.logs {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

// The first spec builds the shared system image, labelled with its base
// image and build time, before its own build; a new spec with another
// context reuses it.
func TestSystemImageBuiltOnceThenReused(t *testing.T) {
	h := newSysHarness(t, nil)
	a := h.run("a", false)
	n, req := h.eng.systemBuilds()
	if n != 1 {
		t.Fatalf("%d system builds, want 1", n)
	}
	if req.Labels[LabelSystemBaseID] != "sha256:base1" || req.Labels[LabelSystemBuilt] != "2026-03-01T12:00:00Z" || req.NoCache {
		t.Errorf("system build request %+v", req)
	}
	if !logHas(a, "building the shared system image "+sysTag+" (first use)") || !logHas(a, systemLogPrefix+"Step 1/3") {
		t.Errorf("the log does not introduce the system build:\n%s", logText(a))
	}
	if reqs := h.eng.reqs; len(reqs) != 2 || reqs[1].Tag == sysTag {
		t.Fatalf("builds %+v, want the system then the spec", reqs)
	}
	b := h.run("b", false)
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Fatalf("a new spec rebuilt the system image (%d builds)", n)
	}
	if !logHas(b, "reusing the shared system image "+sysTag+" (system1) built 2026-03-01T12:00:00Z") {
		t.Errorf("the log does not say the system image was reused:\n%s", logText(b))
	}
}

// A re-imported base image makes the system image stale.
func TestSystemImageRebuiltWhenBaseChanges(t *testing.T) {
	h := newSysHarness(t, nil)
	h.run("a", false)
	h.eng.baseID = "sha256:base2"
	b := h.run("b", false)
	n, req := h.eng.systemBuilds()
	if n != 2 || req.Labels[LabelSystemBaseID] != "sha256:base2" {
		t.Fatalf("%d system builds (last %+v), want a rebuild on the new base", n, req.Labels)
	}
	if !logHas(b, "the base image changed") {
		t.Errorf("the log does not say why:\n%s", logText(b))
	}
}

// Package indexes newer than the system image's make it stale; the same
// date reuses it. The date joins the run's cache key.
func TestSystemImageRebuiltWhenIndexIsNewer(t *testing.T) {
	day1 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	prober := &fakeProber{date: day1}
	h := newSysHarness(t, prober)
	a := h.run("a", false)
	if !strings.Contains(a.hash, "+base:sha256:base1+index:2026-03-01T08:00:00Z") {
		t.Errorf("cache key %q lacks the index date", a.hash)
	}
	if _, req := h.eng.systemBuilds(); req.Labels[LabelSystemIndexDate] != "2026-03-01T08:00:00Z" {
		t.Errorf("system image labels %v lack the index date", req.Labels)
	}
	h.run("b", false)
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Fatalf("the same index date rebuilt the system image")
	}
	prober.mu.Lock()
	prober.date = day1.Add(24 * time.Hour)
	prober.mu.Unlock()
	h.now = h.now.Add(time.Hour) // past the prober's cache
	c := h.run("c", false)
	n, req := h.eng.systemBuilds()
	if n != 2 || req.Labels[LabelSystemIndexDate] != "2026-03-02T08:00:00Z" {
		t.Fatalf("%d system builds (last labels %v), want a rebuild on the newer indexes", n, req.Labels)
	}
	// The engine's layer cache holds the system layer built from the old
	// indexes (same parent, same command): a rebuild that used it would
	// carry the old packages under the new label.
	if !req.NoCache {
		t.Errorf("the rebuild on newer indexes used the layer cache")
	}
	if !logHas(c, "newer than the image's") || !strings.Contains(c.hash, "+index:2026-03-02T08:00:00Z") {
		t.Errorf("key %q, log:\n%s", c.hash, logText(c))
	}
}

// The prober's answers are kept for IndexTTL: an unchanged spec does not
// wait for the mirror every run.
func TestIndexDateIsCached(t *testing.T) {
	prober := &fakeProber{date: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	h := newSysHarness(t, prober)
	h.run("a", false)
	h.now = h.now.Add(9 * time.Minute)
	h.run("b", false)
	if prober.calls != 1 {
		t.Fatalf("the prober was asked %d times within its TTL", prober.calls)
	}
	h.now = h.now.Add(2 * time.Minute)
	h.run("c", false)
	if prober.calls != 2 {
		t.Fatalf("the prober was asked %d times, want a second question after the TTL", prober.calls)
	}
}

// A prober that fails is a warning: the run completes, its key has no
// date, and the system image is reused as it is.
func TestIndexProberErrorIsAWarning(t *testing.T) {
	prober := &fakeProber{date: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	h := newSysHarness(t, prober)
	h.run("a", false)
	prober.mu.Lock()
	prober.err = errors.New("mirror unreachable")
	prober.mu.Unlock()
	h.now = h.now.Add(time.Hour)
	b := h.run("b", false)
	if strings.Contains(b.hash, "+index:") {
		t.Errorf("key %q has an index date although the prober failed", b.hash)
	}
	if !logHas(b, "mirror unreachable") || !logHas(b, "reusing the shared system image") {
		t.Errorf("log:\n%s", logText(b))
	}
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Errorf("%d system builds, want the image reused", n)
	}
	warned := false
	for _, l := range b.logs {
		warned = warned || (l.Level == run.LogWarn && strings.Contains(l.Message, "mirror unreachable"))
	}
	if !warned {
		t.Error("the prober's failure is not a warning")
	}
}

// A fresh run (NoCache) builds the system image anew, without the
// engine's layer cache, even when a fresh one exists.
func TestNoCacheRebuildsSystemImage(t *testing.T) {
	h := newSysHarness(t, nil)
	h.run("a", false)
	b := h.run("a", true)
	n, req := h.eng.systemBuilds()
	if n != 2 || !req.NoCache {
		t.Fatalf("%d system builds, last NoCache=%v: want a fresh rebuild", n, req.NoCache)
	}
	if !logHas(b, "a fresh build was asked for") {
		t.Errorf("log:\n%s", logText(b))
	}
}

// Two runs that need the same missing system image at the same time build
// it once: the second waits for the first's build.
func TestSystemImageBuiltOnceForConcurrentRuns(t *testing.T) {
	h := newSysHarness(t, nil)
	h.eng.gate, h.eng.started = make(chan struct{}), make(chan struct{}, 4)
	ids := []int64{h.add("a", false), h.add("b", false)}
	var wg sync.WaitGroup
	run1 := func(id int64) {
		defer wg.Done()
		if err := h.p.Run(context.Background(), id); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go run1(ids[0])
	<-h.eng.started // the first run's system build is under way
	h.eng.mu.Lock()
	before := h.eng.inspects
	h.eng.mu.Unlock()
	wg.Add(1)
	go run1(ids[1])
	// Wait until the second run found the image missing, then give it
	// time to ask for the build too.
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.eng.mu.Lock()
		n := h.eng.inspects
		h.eng.mu.Unlock()
		if n > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second run never looked for the system image")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(h.eng.gate)
	wg.Wait()
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Fatalf("%d system builds for two concurrent runs, want 1", n)
	}
	for _, id := range ids {
		if st := h.st.of(id); st.state != run.Complete {
			t.Fatalf("run %d ended %s: %s", id, st.state, st.reason)
		}
	}
	if !logHas(h.st.of(ids[1]), "another run built the shared system image") {
		t.Errorf("the second run's log:\n%s", logText(h.st.of(ids[1])))
	}
}

// The shared build belongs to no run: cancelling the run that started it
// (a superseding push) does not fail another run waiting for it, which
// sees its lines and uses the image.
func TestLeaderCancelDoesNotFailTheRunWaiting(t *testing.T) {
	h := newSysHarness(t, nil)
	h.eng.gate, h.eng.started = make(chan struct{}), make(chan struct{}, 4)
	leaderID, followerID := h.add("a", false), h.add("b", false)
	lctx, cancelLeader := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := h.p.Run(lctx, leaderID); err != nil {
			t.Error(err)
		}
	}()
	<-h.eng.started
	go func() {
		defer wg.Done()
		if err := h.p.Run(context.Background(), followerID); err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); !logHas(h.st.of(followerID), "waiting for it"); {
		if time.Now().After(deadline) {
			t.Fatalf("the second run never joined the build:\n%s", logText(h.st.of(followerID)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancelLeader()
	ended := func() bool {
		st := h.st.of(leaderID)
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.state.Terminal()
	}
	for deadline := time.Now().Add(5 * time.Second); !ended(); {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled run did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(h.eng.gate)
	wg.Wait()
	if st := h.st.of(leaderID); st.state != run.Cancelled {
		t.Errorf("the cancelled run ended %s", st.state)
	}
	f := h.st.of(followerID)
	if f.state != run.Complete {
		t.Fatalf("the waiting run ended %s (%s): another run's cancel failed it", f.state, f.reason)
	}
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Errorf("%d system builds, want the one both runs shared", n)
	}
	if !logHas(f, systemLogPrefix+"Step 1/3") {
		t.Errorf("the waiting run does not see the build's lines:\n%s", logText(f))
	}
}

// A build nobody waits for any more stops.
func TestSystemBuildStopsWhenNoRunWaits(t *testing.T) {
	h := newSysHarness(t, nil)
	h.eng.gate, h.eng.started = make(chan struct{}), make(chan struct{}, 4)
	id := h.add("a", false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx, id) }()
	<-h.eng.started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The engine's build sees its context end (the gate is never opened).
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.p.systems.mu.Lock()
		n := len(h.p.systems.builds)
		h.p.systems.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the system build went on with no run waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A system image labelled with indexes from the future (a hostile or
// broken archive's date, before the mirror client refused those) is not
// fresh for ever: it is rebuilt.
func TestSystemImageFromTheFutureIsRebuilt(t *testing.T) {
	prober := &fakeProber{date: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	h := newSysHarness(t, prober)
	h.eng.images = map[string]ImageInfo{sysTag: {ID: "sha256:old", Labels: map[string]string{
		LabelSystemBaseID: "sha256:base1", LabelSystemIndexDate: "2099-01-01T00:00:00Z", LabelSystemBuilt: "2026-02-01T00:00:00Z"}}}
	a := h.run("a", false)
	if n, _ := h.eng.systemBuilds(); n != 1 {
		t.Fatalf("%d system builds: an image dated 2099 was reused", n)
	}
	if !logHas(a, "is in the future") {
		t.Errorf("the log does not say why:\n%s", logText(a))
	}
}
