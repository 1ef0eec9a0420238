package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Builds over the quota wait: their jobs are snoozed until a token is due,
// and the runner never sees them meanwhile.
func TestBuildQuotaMakesBuildsWait(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		runner := newFakeRunner(nil)
		q, err := newQueue(db, WorkerConfig{Workers: 2, Runner: runner, Logger: quiet, BuildQuota: &store.Quota{Repo: store.Limit{PerHour: 2}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })
		var res []store.IntakeResult
		for i, sha := range []string{"sha1", "sha2", "sha3"} {
			res = append(res, intake(t, db, q, "d"+sha, sha))
			if i < 2 {
				waitRun(t, runner, res[i].RunID)
			}
		}
		run, _ := db.Run(ctx, res[2].RunID)
		deadline := time.Now().Add(30 * time.Second)
		for {
			job, err := jobRow(ctx, db, *run.JobID)
			if err == nil && job.State == rivertype.JobStateScheduled && time.Until(job.ScheduledAt) > 25*time.Minute {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("third build of the hour not held back: %+v %v", job, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if logs, err := db.Logs(ctx, run.ID, 0, 10); err != nil || len(logs) == 0 || !strings.Contains(logs[0].Message, "build quota") {
			t.Fatalf("the waiting run's log does not say why: %+v %v", logs, err)
		}
		select {
		case id := <-runner.done:
			t.Fatalf("run %d built over the quota", id)
		default:
		}
	})
}

// blockingEvents holds prompt decisions until released and records the
// others.
type blockingEvents struct {
	release chan struct{}
	done    chan string
}

func (b *blockingEvents) HandleEvent(ctx context.Context, ev *store.EventJob) error {
	if ev.Command == "prompt" {
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.done <- ev.Kind + "/" + ev.Command
	return nil
}

// A slow model never stalls pull-request decisions: prompt decisions have
// their own queue and at most three attempts.
func TestPromptsHaveTheirOwnQueue(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	h := &blockingEvents{release: make(chan struct{}), done: make(chan string, 10)}
	q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil), Events: h, EventWorkers: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(h.release)
		_ = q.Stop(context.Background())
	})
	defer2 := func(id string, ev *store.EventJob) int64 {
		t.Helper()
		d := &store.Delivery{AppID: 1, DeliveryID: id, Event: "issue_comment", Repo: "o/r", Outcome: store.OutcomeDeferred, PayloadSHA256: "x"}
		if _, err := db.Intake(ctx, &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Reason: d.Reason, Event: ev}}, q); err != nil {
			t.Fatal(err)
		}
		var jobID int64
		if err := db.SQL.QueryRowContext(ctx, "SELECT max(id) FROM river_job").Scan(&jobID); err != nil {
			t.Fatal(err)
		}
		return jobID
	}
	prompt := defer2("p1", &store.EventJob{Kind: store.EventCommand, Command: "prompt", Repo: "o/r", Number: 1, Argument: "a box"})
	time.Sleep(300 * time.Millisecond) // the prompt is being decided
	defer2("pr1", &store.EventJob{Kind: store.EventPullRequest, Repo: "o/r", Number: 2})
	select {
	case got := <-h.done:
		if got != store.EventPullRequest+"/" {
			t.Fatalf("decided %q first", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pull request's decision waited for a slow prompt")
	}
	job, err := jobRow(ctx, db, prompt)
	if err != nil || job.Queue != QueuePrompts || job.MaxAttempts != 3 {
		t.Fatalf("prompt job %+v %v, want queue %s and 3 attempts", job, err, QueuePrompts)
	}
}
