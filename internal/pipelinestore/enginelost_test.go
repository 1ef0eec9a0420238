package pipelinestore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// losingBuilder loses the Docker engine in its first lose builds (as
// pipeline/docker reports a dockerd that died under the build), then
// builds.
type losingBuilder struct {
	slowBuilder
	lose   int32
	builds atomic.Int32
}

func (b *losingBuilder) Build(ctx context.Context, req pipeline.BuildRequest, log func(string)) (string, error) {
	if b.builds.Add(1) <= b.lose {
		log("Step 1/9 : FROM debian:bookworm")
		return "", fmt.Errorf("%w: read build output: unexpected EOF", pipeline.ErrEngineLost)
	}
	return b.slowBuilder.Build(ctx, req, log)
}

// WaitEngine: the engine is back by the next attempt.
func (b *losingBuilder) WaitEngine(context.Context, time.Duration) error { return nil }

// waitJob waits for the job to reach one of states, and returns it with
// its attempt.
func (g *resumeRig) waitJob(jobID int64, d time.Duration, states ...string) (string, int) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for {
		state, attempt := g.jobState(jobID)
		for _, s := range states {
			if state == s {
				return state, attempt
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("job %d is %s at attempt %d after %s, want one of %v", jobID, state, attempt, d, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A build whose Docker engine is lost goes back to the queue: the run is
// PENDING with run.ReasonEngineLost, the job is retried with the attempt
// counted, and the next attempt completes the run.
func TestEngineLostBuildIsRetriedAndCompletes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		g := newResumeRig(t, db)
		b := &losingBuilder{lose: 1}
		w := g.worker("worker-1", b)
		t.Cleanup(func() { _ = w.Stop(context.Background()) })
		id := g.push("sha-lost-once")
		rn := g.waitStatus(id, run.StatusSuccess)
		if rn.RetryReason != run.ReasonEngineLost {
			t.Fatalf("retry reason %q, want %q", rn.RetryReason, run.ReasonEngineLost)
		}
		if !g.logged(id, run.ReasonEngineLost+" during BUILDING") || !g.logged(id, "unexpected EOF") {
			t.Fatal("the run's log does not say the engine was lost, and how")
		}
		if state, attempt := g.waitJobFinal(*rn.JobID); state != "completed" || attempt != 2 {
			t.Fatalf("job is %s at attempt %d, want completed at its second attempt", state, attempt)
		}
		if n := b.builds.Load(); n != 2 {
			t.Fatalf("%d builds, want 2", n)
		}
	})
}

// An engine lost in every attempt fails the run after the job's last
// attempt, with a reason that names the engine's loss; the job is not
// retried past it.
func TestEngineLostInEveryAttemptFailsTheRun(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		g := newResumeRig(t, db)
		b := &losingBuilder{lose: 1000}
		w := g.worker("worker-1", b)
		t.Cleanup(func() { _ = w.Stop(context.Background()) })
		id := g.push("sha-lost-always")
		rn, _ := db.Run(context.Background(), id)
		// River waits about 1 s before the second attempt, 16 s before
		// the third.
		state, attempt := g.waitJob(*rn.JobID, 90*time.Second, "completed", "discarded")
		rn, _ = db.Run(context.Background(), id)
		if rn.Status != run.StatusFailed || !strings.Contains(rn.FailureReason, "the Docker engine was lost during BUILDING, in the build's last attempt (3 of 3)") {
			t.Fatalf("run is %s (%q), want FAILED naming the engine's loss in the last attempt", rn.Status, rn.FailureReason)
		}
		if state != "completed" || attempt != 3 {
			t.Fatalf("job is %s at attempt %d, want completed at its third (last) attempt", state, attempt)
		}
		if n := b.builds.Load(); n != 3 {
			t.Fatalf("%d builds, want 3", n)
		}
	})
}
