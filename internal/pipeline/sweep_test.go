package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Restart implements Store as the real store does: a run that has not
// ended is PENDING again, without steps or artifacts, with the reason in
// its log.
func (m *memStore) Restart(_ context.Context, _ int64, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Terminal() {
		return fmt.Errorf("run is %s: it has ended", m.state)
	}
	m.state, m.steps, m.arts = run.Pending, nil, nil
	m.rec.Retried = true
	m.logs = append(m.logs, LogLine{Step: run.Pending, Level: run.LogWarn, Message: reason})
	return nil
}

// Restart implements Store (system_test.go's store of several runs).
func (m *multiStore) Restart(ctx context.Context, id int64, reason string) error {
	return m.of(id).Restart(ctx, id, reason)
}

func (m *memStore) logged(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.logs, func(l LogLine) bool { return strings.Contains(l.Message, s) })
}

// sweepingBuilder is a builder whose engine keeps images by run key.
type sweepingBuilder struct {
	fakeBuilder
	swept []string
}

func (b *sweepingBuilder) SweepRun(_ context.Context, key string) (int, error) {
	b.swept = append(b.swept, key)
	return 1, nil
}

// A worker that stops mid-build interrupts the attempt: the run is not
// ended (not CANCELLED), it is PENDING again with the reason in its log,
// the attempt's image is removed, and the error asks for a retry.
func TestInterruptedRunIsNotCancelled(t *testing.T) {
	b := &fakeBuilder{block: true}
	p, st, rep := newTestPipeline(t, goodSpec, b, fakeISO{}, fakeBoot{})
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		for !st.logged("Step 1/2") {
			time.Sleep(time.Millisecond)
		}
		cancel(run.ErrInterrupted)
	}()
	err := p.Run(ctx, 1)
	if !errors.Is(err, run.ErrInterrupted) {
		t.Fatalf("Run returned %v, want an error wrapping run.ErrInterrupted", err)
	}
	if st.state != run.Pending || st.reason != "" {
		t.Fatalf("run is %s (%q), want PENDING and not ended", st.state, st.reason)
	}
	if !st.logged(run.ReasonInterrupted) {
		t.Fatal("the run's log does not say it was interrupted")
	}
	if len(b.removed) != 1 {
		t.Fatalf("removed images %v, want the partial one", b.removed)
	}
	if last := rep.seen[len(rep.seen)-1]; last != run.Pending {
		t.Fatalf("announced %v, want the return to PENDING last", rep.seen)
	}
}

// A user's cancel (any other cause) still ends the run CANCELLED.
func TestUserCancelStillCancels(t *testing.T) {
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{block: true}, fakeISO{}, fakeBoot{})
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		for !st.logged("Step 1/2") {
			time.Sleep(time.Millisecond)
		}
		cancel(errors.New("job cancelled remotely"))
	}()
	if err := p.Run(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Cancelled {
		t.Fatalf("run is %s, want CANCELLED", st.state)
	}
}

// A run whose earlier attempt got to BUILDING (its worker died) starts
// over from VALIDATING: it is restarted in the store and the earlier
// attempt's leftovers are swept — its directory, images and containers —
// and nothing of another run.
func TestRetriedRunStartsOverAndSweepsItsLeftovers(t *testing.T) {
	b := &sweepingBuilder{}
	dir := t.TempDir()
	st := &memStore{rec: RunRecord{ID: 7, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec), CreatedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)},
		state: run.Building, cache: map[string][]Artifact{}}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	leftovers := []string{"7/work/rootfs/etc/hostname", "7/image.tar.zst.part", "7/.iso-work-123/grub.cfg", "7/linux.iso.part"}
	others := []string{"8/work/rootfs/etc/hostname", "8/image.tar.zst.part", "8/linux.iso"}
	for _, f := range append(slices.Clone(leftovers), others...) {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Run(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Complete {
		t.Fatalf("run is %s (%s)", st.state, st.reason)
	}
	if want := []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating}; fmt.Sprint(st.steps) != fmt.Sprint(want) {
		t.Fatalf("steps %v, want %v (from the start)", st.steps, want)
	}
	if !st.logged(run.ReasonAttemptLost) {
		t.Fatal("the log does not say why the run is built again")
	}
	for _, f := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s is still there (%v)", f, err)
		}
	}
	for _, f := range others {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("another run's %s was touched: %v", f, err)
		}
	}
	if want := []string{"7@20261202T100000.000000"}; fmt.Sprint(b.swept) != fmt.Sprint(want) {
		t.Fatalf("swept %v, want %v", b.swept, want)
	}
}

// A first attempt sweeps nothing.
func TestFirstAttemptSweepsNothing(t *testing.T) {
	b := &sweepingBuilder{}
	p, st, _ := newTestPipeline(t, goodSpec, &b.fakeBuilder, nil, nil)
	p.cfg.Builder = b
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Complete || len(b.swept) != 0 {
		t.Fatalf("run %s, swept %v", st.state, b.swept)
	}
}
