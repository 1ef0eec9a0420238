package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// supersededStore refuses the attempt's writes from step on, as the real
// store does once the attempt's job was rescued (store.ErrFenced).
type supersededStore struct {
	*memStore
	from run.State
}

func (s *supersededStore) EnterStep(ctx context.Context, id int64, step run.State) error {
	if step == s.from {
		return run.ErrSuperseded
	}
	return s.memStore.EnterStep(ctx, id, step)
}

func (s *supersededStore) Finish(context.Context, int64, run.State, string) error {
	return run.ErrSuperseded
}

// An attempt that finds itself superseded (a paused worker, resumed after
// another worker took the run over) stops: it neither ends the run nor
// removes the image, which the new attempt may share (same layers, same
// image id), and its error says why.
func TestSupersededAttemptStopsWithoutTouchingTheRun(t *testing.T) {
	b := &fakeBuilder{}
	p, st, _ := newTestPipeline(t, goodSpec, b, fakeISO{}, fakeBoot{})
	p.cfg.Store = &supersededStore{memStore: st, from: run.ISOGenerating}
	err := p.Run(context.Background(), 1)
	if !errors.Is(err, run.ErrSuperseded) {
		t.Fatalf("Run returned %v, want run.ErrSuperseded", err)
	}
	if len(b.removed) != 0 {
		t.Fatalf("the superseded attempt removed images %v", b.removed)
	}
	if st.state != run.Building || st.reason != "" {
		t.Fatalf("run %s (%q): the superseded attempt changed it", st.state, st.reason)
	}
}

// The same when the stale attempt's step fails (the new attempt's sweep
// removed its containers): its end is refused, and it removes nothing.
func TestSupersededAttemptThatFailsRemovesNothing(t *testing.T) {
	b := &fakeBuilder{}
	p, st, _ := newTestPipeline(t, goodSpec, b, fakeISO{fail: errors.New("export: no such container")}, fakeBoot{})
	p.cfg.Store = &supersededStore{memStore: st}
	err := p.Run(context.Background(), 1)
	if !errors.Is(err, run.ErrSuperseded) {
		t.Fatalf("Run returned %v, want run.ErrSuperseded", err)
	}
	if len(b.removed) != 0 {
		t.Fatalf("the superseded attempt removed images %v", b.removed)
	}
	if st.state.Terminal() {
		t.Fatalf("run %s: the superseded attempt ended it", st.state)
	}
}

// A worker starting sweeps its work directory of runs that are not in
// progress (a dead process's leftovers), and leaves a run in progress and
// what is not a run's directory alone.
func TestSweepWorkDirRemovesRunsNotInProgress(t *testing.T) {
	dir := t.TempDir()
	st := &memStore{rec: RunRecord{ID: 1}, state: run.Complete}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: &fakeBuilder{}, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"1/linux.iso.part", "1/.iso-work-9/x", "notarun/keep"} {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st.state = run.Building // in progress: kept
	if n, err := p.SweepWorkDir(context.Background()); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) of a run in progress", n, err)
	}
	st.state = run.Complete
	if n, err := p.SweepWorkDir(context.Background()); err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want the ended run's directory", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("run 1's directory is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notarun", "keep")); err != nil {
		t.Fatalf("a directory that is not a run's was touched: %v", err)
	}
}
