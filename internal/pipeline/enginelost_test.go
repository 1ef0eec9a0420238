package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// errLostMidBuild is what pipeline/docker returns when dockerd dies under a
// build.
var errLostMidBuild = fmt.Errorf("%w: read build output: unexpected EOF", ErrEngineLost)

// noteReporter keeps the notes of the transitions it is told of.
type noteReporter struct{ notes []string }

func (r *noteReporter) Transition(_ context.Context, _ int64, _, to run.State, note string) {
	r.notes = append(r.notes, string(to)+": "+note)
}
func (r *noteReporter) Log(context.Context, LogLine) {}

func attempt(n, max int) context.Context {
	return run.WithAttempt(context.Background(), run.Attempt{N: n, Max: max})
}

// An attempt whose engine is lost mid-build is given up, not failed: the
// run is PENDING again with run.ReasonEngineLost in its log and on its
// check run (the reporters' note), its partial image is removed, and Run
// returns an error wrapping ErrEngineLost so the queue retries the job
// (counting the attempt).
func TestEngineLostRetriesTheRun(t *testing.T) {
	b := &fakeBuilder{fail: errLostMidBuild}
	p, st, _ := newTestPipeline(t, goodSpec, b, fakeISO{}, fakeBoot{})
	notes := &noteReporter{}
	p.cfg.Reporters = append(p.cfg.Reporters, notes)
	err := p.Run(attempt(1, 3), 1)
	if !errors.Is(err, ErrEngineLost) {
		t.Fatalf("Run returned %v, want an error wrapping ErrEngineLost (the job is retried)", err)
	}
	if st.state != run.Pending || st.reason != "" {
		t.Fatalf("run is %s (%q), want PENDING and not ended", st.state, st.reason)
	}
	if !st.logged(run.ReasonEngineLost) || !st.logged("unexpected EOF") {
		t.Fatalf("the run's log does not say the engine was lost, and how: %v", messages(st.logs))
	}
	if last := notes.notes[len(notes.notes)-1]; last != string(run.Pending)+": "+run.ReasonEngineLost {
		t.Fatalf("last transition announced %q, want the return to PENDING with the reason", last)
	}
}

// The last attempt that loses the engine ends the run FAILED, saying so.
func TestEngineLostOnTheLastAttemptFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{{"last of 3", attempt(3, 3), "in the build's last attempt (3 of 3)"}, {"no queue (bot build)", context.Background(), ""}} {
		t.Run(tc.name, func(t *testing.T) {
			p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{fail: errLostMidBuild}, fakeISO{}, fakeBoot{})
			if err := p.Run(tc.ctx, 1); err != nil {
				t.Fatalf("Run returned %v: the run is over, the job must not be retried", err)
			}
			if st.state != run.Failed || !strings.Contains(st.reason, "the Docker engine was lost during BUILDING") || !strings.Contains(st.reason, "unexpected EOF") {
				t.Fatalf("run is %s (%q), want FAILED naming the engine's loss", st.state, st.reason)
			}
			if !strings.Contains(st.reason, tc.want) {
				t.Fatalf("reason %q does not say %q", st.reason, tc.want)
			}
		})
	}
}

// A build's own failure (a RUN step that exits non-zero) is never retried,
// whatever attempt it is.
func TestBuildFailureIsNotRetried(t *testing.T) {
	b := &fakeBuilder{fail: errors.New("The command '/bin/sh -c false' returned a non-zero code: 1")}
	p, st, _ := newTestPipeline(t, goodSpec, b, fakeISO{}, fakeBoot{})
	if err := p.Run(attempt(1, 3), 1); err != nil {
		t.Fatalf("Run returned %v, want nil: a failed build is not retried", err)
	}
	if st.state != run.Failed || !strings.Contains(st.reason, "non-zero code: 1") || st.logged(run.ReasonEngineLost) {
		t.Fatalf("run is %s (%q), want FAILED with the step's error", st.state, st.reason)
	}
}

// The ISO step's export cut by a lost engine retries the run; it does not
// complete it partial (image only).
func TestEngineLostInTheISOStepRetries(t *testing.T) {
	iso := fakeISO{fail: fmt.Errorf("export image: %w", errLostMidBuild)}
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, iso, fakeBoot{})
	err := p.Run(attempt(1, 3), 1)
	if !errors.Is(err, ErrEngineLost) || st.state != run.Pending || st.partial != "" {
		t.Fatalf("Run = %v, run %s, partial %q; want a retry, PENDING, not partial", err, st.state, st.partial)
	}
}

// waitingBuilder is a builder whose engine was lost: WaitEngine answers
// with back.
type waitingBuilder struct {
	sweepingBuilder
	back   error
	waited []time.Duration
}

func (b *waitingBuilder) WaitEngine(_ context.Context, d time.Duration) error {
	b.waited = append(b.waited, d)
	return b.back
}

// A retried attempt waits for the engine before it starts over; when the
// engine does not come back within Config.EngineWait, the attempt is given
// up as lost (and the last one fails the run).
func TestRetriedAttemptWaitsForTheEngine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		back  error
		ctx   context.Context
		want  run.State
		retry bool
	}{
		{name: "engine back", ctx: attempt(2, 3), want: run.Complete},
		{name: "engine still gone", back: fmt.Errorf("%w: it did not answer for 2m0s", ErrEngineLost), ctx: attempt(2, 3), want: run.Pending, retry: true},
		{name: "engine still gone, last attempt", back: fmt.Errorf("%w: it did not answer for 2m0s", ErrEngineLost), ctx: attempt(3, 3), want: run.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &waitingBuilder{back: tc.back}
			st := &memStore{rec: RunRecord{ID: 1, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec), Retried: true},
				state: run.Pending, cache: map[string][]Artifact{}}
			p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ArtifactsDir: t.TempDir(), EngineWait: 90 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Run(tc.ctx, 1)
			if errors.Is(err, ErrEngineLost) != tc.retry || st.state != tc.want {
				t.Fatalf("Run = %v, run %s (%q); want %s, retried %v", err, st.state, st.reason, tc.want, tc.retry)
			}
			if len(b.waited) != 1 || b.waited[0] != 90*time.Second {
				t.Fatalf("waited %v, want once for Config.EngineWait", b.waited)
			}
			if tc.back != nil && len(b.swept) != 0 {
				t.Fatalf("swept %v on an engine that is gone", b.swept)
			}
		})
	}
}
