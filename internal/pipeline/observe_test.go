package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
	"github.com/linux-builder/linux-builder/internal/run"
)

// observations is an Observer that keeps what it is told, and passes it
// on to the real metrics.
type observations struct {
	mu    sync.Mutex
	next  Observer
	steps []string
	cache []string
	ended []run.Status
}

func (o *observations) StepFinished(step run.State, outcome string, d time.Duration) {
	o.mu.Lock()
	o.steps = append(o.steps, string(step)+":"+outcome)
	o.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	o.next.StepFinished(step, outcome, d)
}
func (o *observations) CacheLookup(result string) {
	o.mu.Lock()
	o.cache = append(o.cache, result)
	o.mu.Unlock()
	o.next.CacheLookup(result)
}
func (o *observations) RunEnded(s run.Status) {
	o.mu.Lock()
	o.ended = append(o.ended, s)
	o.mu.Unlock()
	o.next.RunEnded(s)
}

var (
	_ Observer = (*observations)(nil)
	_ Observer = (*metrics.Metrics)(nil)
)

// The pipeline tells its Observer each step's outcome, each cache lookup
// and each run's end; through the real metrics, a cache hit, a miss, a
// bypass and a failed build show in the exposition.
func TestObserverSeesStepsCacheAndEnds(t *testing.T) {
	m := metrics.New(metrics.Options{})
	obs := &observations{next: m}
	dir := t.TempDir()
	runOne := func(id int64, b *fakeBuilder, cache map[string][]Artifact, noCache bool) *memStore {
		t.Helper()
		st := &memStore{rec: RunRecord{ID: id, InstallationID: 3, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec), NoCache: noCache},
			state: run.Pending, cache: map[string][]Artifact{}}
		for k, v := range cache {
			st.cache[k] = v
		}
		p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ArtifactsDir: dir, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := runOne(1, &fakeBuilder{}, nil, false)                                                                    // a miss: built
	runOne(2, &fakeBuilder{fail: errors.New("must not build")}, map[string][]Artifact{first.hash: first.arts}, false) // a hit
	runOne(3, &fakeBuilder{}, map[string][]Artifact{first.hash: first.arts}, true)                                    // a fresh build asked for
	failed := runOne(4, &fakeBuilder{fail: errors.New("RUN apt-get install: exit code 100")}, nil, false)
	if failed.state != run.Failed {
		t.Fatalf("run 4 ended %s", failed.state)
	}

	ok := func(s run.State) string { return string(s) + ":" + StepOK }
	wantSteps := []string{
		ok(run.Validating), ok(run.Generating), ok(run.Building), ok(run.ISOGenerating), // run 1 (no ISO builder: the step says so)
		ok(run.Validating), ok(run.Generating), // run 2: the hit skips the build
		ok(run.Validating), ok(run.Generating), ok(run.Building), ok(run.ISOGenerating), // run 3
		ok(run.Validating), ok(run.Generating), string(run.Building) + ":" + StepFailed, // run 4
	}
	if !slices.Equal(obs.steps, wantSteps) {
		t.Fatalf("steps\n%q\nwant\n%q", obs.steps, wantSteps)
	}
	if want := []string{CacheLookupMiss, CacheLookupHit, CacheLookupBypassed, CacheLookupMiss}; !slices.Equal(obs.cache, want) {
		t.Fatalf("cache lookups %q, want %q", obs.cache, want)
	}
	if want := []run.Status{run.StatusSuccess, run.StatusSuccess, run.StatusSuccess, run.StatusFailed}; !slices.Equal(obs.ended, want) {
		t.Fatalf("ended %q, want %q", obs.ended, want)
	}

	s := metricstest.Get(t, m.Handler())
	for result, want := range map[string]float64{CacheLookupHit: 1, CacheLookupMiss: 2, CacheLookupBypassed: 1, CacheLookupUnusable: 0} {
		if got := s.Must(t, "linux_builder_pipeline_cache_lookups_total", "result="+result); got != want {
			t.Errorf("cache %s = %v, want %v", result, got, want)
		}
	}
	if got := s.Must(t, "linux_builder_pipeline_step_duration_seconds", "step="+string(run.Building), "outcome=ok"); got != 2 {
		t.Errorf("%v builds observed ok, want 2", got)
	}
	if got := s.Must(t, "linux_builder_pipeline_step_duration_seconds", "step="+string(run.Building), "outcome=failed"); got != 1 {
		t.Errorf("%v builds observed failed, want 1", got)
	}
	if got := s.Must(t, "linux_builder_pipeline_runs_ended_total", "status="+string(run.StatusFailed)); got != 1 {
		t.Errorf("%v runs ended failed, want 1", got)
	}
	if got := s.Must(t, "linux_builder_pipeline_runs_ended_total", "status="+string(run.StatusSuccess)); got != 3 {
		t.Errorf("%v runs ended successfully, want 3", got)
	}
}

// The outcome of a step from its error and the run's context.
func TestStepOutcome(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"ok", context.Background(), nil, StepOK},
		{"a step's failure", context.Background(), stepFailed("bad spec", nil), StepFailed},
		{"infrastructure: retried", context.Background(), &errRetry{errors.New("store down")}, StepRetried},
		{"engine lost: retried", context.Background(), ErrEngineLost, StepRetried},
		{"superseded", context.Background(), run.ErrSuperseded, StepCancelled},
		{"cancelled run", cancelled, context.Canceled, StepCancelled},
		{"run's time limit", expired, context.DeadlineExceeded, StepFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stepOutcome(tc.ctx, tc.err); got != tc.want {
				t.Fatalf("stepOutcome = %q, want %q", got, tc.want)
			}
		})
	}
}
