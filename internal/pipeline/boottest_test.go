package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// waitLimit bounds every wait of the fakes below: on code that boots one
// firmware after the other, a fake waiting for its sibling gives up after
// it and the test fails instead of hanging.
const waitLimit = 3 * time.Second

// barrierBoot is a BootTester whose boots wait until all the expected
// boots have started, then each behaves as its firmware's entry in act
// says: "pass", "fail" (after the barrier), or "hang" (until its context
// is cancelled). It records the requests and which boots saw their
// context cancelled.
type barrierBoot struct {
	want int
	act  map[Firmware]string

	mu        sync.Mutex
	started   int
	all       chan struct{} // closed once want boots have started
	reqs      []BootRequest
	cancelled []Firmware
}

var _ BootTester = (*barrierBoot)(nil)

func newBarrierBoot(act map[Firmware]string) *barrierBoot {
	return &barrierBoot{want: len(act), act: act, all: make(chan struct{})}
}

func (f *barrierBoot) Boot(ctx context.Context, req BootRequest, log func(string)) (time.Duration, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.started++
	if f.started == f.want {
		close(f.all)
	}
	f.mu.Unlock()
	log(fmt.Sprintf("boot (%s): started", req.Firmware))
	if err := os.WriteFile(req.SerialLog, []byte("console of "+string(req.Firmware)+"\n"), 0o644); err != nil {
		return 0, err
	}
	select {
	case <-f.all:
	case <-time.After(waitLimit):
		return 0, fmt.Errorf("%s: the other boots did not start within %s (the boots do not run at once)", req.Firmware, waitLimit)
	}
	switch f.act[req.Firmware] {
	case "fail":
		return 0, errors.New("the boot marker did not appear: kernel panic")
	case "hang":
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.cancelled = append(f.cancelled, req.Firmware)
			f.mu.Unlock()
			return 0, ctx.Err()
		case <-time.After(waitLimit):
			return 0, fmt.Errorf("%s: not cancelled within %s", req.Firmware, waitLimit)
		}
	}
	return 30 * time.Second, nil
}

func artifactNames(st *memStore) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var names []string
	for _, a := range st.arts {
		names = append(names, a.Name)
	}
	return names
}

// BIOS and UEFI boot at the same time, each told that two boots share the
// host, and both console logs are artifacts.
func TestBootsRunAtOnce(t *testing.T) {
	fake := newBarrierBoot(map[Firmware]string{BIOS: "pass", UEFI: "pass"})
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fake)
	start := time.Now()
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Complete || st.partial != "" || st.reason != "" {
		t.Fatalf("ended %s (%q), partial %q", st.state, st.reason, st.partial)
	}
	if took := time.Since(start); took >= waitLimit {
		t.Fatalf("the boots took %s: one waited for the other", took)
	}
	for _, req := range fake.reqs {
		if req.Concurrent != 2 {
			t.Fatalf("%s boot told %d boots run at once, want 2", req.Firmware, req.Concurrent)
		}
	}
	if got := fmt.Sprint(artifactNames(st)); !strings.Contains(got, "boot-bios.log boot-uefi.log") {
		t.Fatalf("artifacts %s: want both console logs, BIOS first", got)
	}
}

// The first boot to fail cancels the other; the run's partial reason and
// warnings name only the one that failed, and both console logs (the
// cancelled boot's partial one too) are kept.
func TestFirstBootFailureCancelsTheOther(t *testing.T) {
	for _, tc := range []struct {
		name         string
		act          map[Firmware]string
		failed, hung Firmware
	}{
		{name: "uefi fails, bios is cancelled", act: map[Firmware]string{BIOS: "hang", UEFI: "fail"}, failed: UEFI, hung: BIOS},
		{name: "bios fails, uefi is cancelled", act: map[Firmware]string{BIOS: "fail", UEFI: "hang"}, failed: BIOS, hung: UEFI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBarrierBoot(tc.act)
			p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fake)
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(fake.cancelled) != fmt.Sprintf("[%s]", tc.hung) {
				t.Fatalf("cancelled boots %v, want [%s]", fake.cancelled, tc.hung)
			}
			want := fmt.Sprintf("the ISO did not boot (%s)", tc.failed)
			if st.state != run.Complete || st.partial != want {
				t.Fatalf("ended %s, partial %q, want COMPLETE and %q", st.state, st.partial, want)
			}
			if !strings.Contains(st.reason, fmt.Sprintf("boot test (%s) failed", tc.failed)) ||
				strings.Contains(st.reason, fmt.Sprintf("boot test (%s) failed", tc.hung)) {
				t.Fatalf("reason %q: want the %s failure only", st.reason, tc.failed)
			}
			names := artifactNames(st)
			sort.Strings(names)
			if got := fmt.Sprint(names); !strings.Contains(got, "boot-bios.log boot-uefi.log") {
				t.Fatalf("artifacts %s: want both console logs", got)
			}
			b, err := os.ReadFile(filepath.Join(p.cfg.ArtifactsDir, "1", serialLogName(boot{fw: tc.hung})))
			if err != nil || !strings.Contains(string(b), "console of "+string(tc.hung)) {
				t.Fatalf("the cancelled boot's console log: %q (%v)", b, err)
			}
			var stopped bool
			for _, l := range st.logs {
				stopped = stopped || strings.Contains(l.Message, fmt.Sprintf("boot test (%s) stopped", tc.hung))
			}
			if !stopped {
				t.Fatalf("the log does not say the %s boot was stopped", tc.hung)
			}
		})
	}
}

// Cancelling the run while both boots are in flight ends it CANCELLED, not
// partial, with both boots cancelled.
func TestCancelledRunDuringBootsEndsCancelled(t *testing.T) {
	fake := newBarrierBoot(map[Firmware]string{BIOS: "hang", UEFI: "hang"})
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fake)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-fake.all:
		case <-time.After(waitLimit):
			t.Error("the two boots never ran at once")
		}
		cancel()
	}()
	if err := p.Run(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Cancelled || st.partial != "" {
		t.Fatalf("ended %s (%q), partial %q; want CANCELLED", st.state, st.reason, st.partial)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.cancelled) != 2 {
		t.Fatalf("cancelled boots %v, want both", fake.cancelled)
	}
}
