package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// TestIntakeSurvivesPostgresRestart restarts the PostgreSQL cluster while
// 200 intakes are in flight. Every intake must either have committed
// exactly once (its delivery and run are there, once) or have returned an
// error to its caller; nothing may be duplicated, half-written or silently
// dropped. It needs root and a local cluster: CI runs it; elsewhere set
// LB_TEST_PG_RESTART=1.
func TestIntakeSurvivesPostgresRestart(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("LB_TEST_PG_RESTART") != "1" {
		t.Skip("restarts the local PostgreSQL cluster: set LB_TEST_PG_RESTART=1 (CI does)")
	}
	versions, _ := filepath.Glob("/etc/postgresql/*/main")
	if len(versions) == 0 {
		t.Fatal("no local PostgreSQL cluster under /etc/postgresql")
	}
	version := filepath.Base(filepath.Dir(versions[0]))
	base := storetest.Postgres(t, nil)
	// A patient retry policy, so most intakes ride out the restart.
	retries := &countingHandler{}
	db, err := Open(context.Background(), Config{URL: base.ConnURL(), Logger: slog.New(retries), Retry: RetryPolicy{Attempts: 10, Base: 200 * time.Millisecond, Max: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const total = 200
	type result struct {
		id  string
		err error
		res IntakeResult
	}
	results := make(chan result, total)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				id := fmt.Sprintf("restart-%03d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := db.Intake(ctx, &IntakeItem{Delivery: &Delivery{AppID: 1, DeliveryID: id, Event: "push", Repo: "o/r", Outcome: OutcomeQueued, PayloadSHA256: "x"}, Intent: Intent{Outcome: OutcomeQueued, Run: &Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: id}}}, fakeEnqueue(1, 0, nil))
				cancel()
				results <- result{id, err, res}
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		restarted <- err
	}()
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(results)
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}

	ok, failed := map[string]bool{}, map[string]bool{}
	for r := range results {
		if r.err != nil {
			failed[r.id] = true
		} else {
			ok[r.id] = true
		}
	}
	if len(ok)+len(failed) != total {
		t.Fatalf("%d results, want %d", len(ok)+len(failed), total)
	}
	ctx := context.Background()
	counts := func(q string) map[string]int {
		rows, err := db.SQL.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			m[k] = n
		}
		return m
	}
	deliveries := counts("SELECT delivery_id, count(*) FROM deliveries GROUP BY delivery_id")
	runs := counts("SELECT head_sha, count(*) FROM runs GROUP BY head_sha")
	linked := counts("SELECT d.delivery_id, count(*) FROM deliveries d JOIN runs r ON r.id = d.run_id AND r.head_sha = d.delivery_id GROUP BY d.delivery_id")
	for id := range ok {
		if deliveries[id] != 1 || runs[id] != 1 || linked[id] != 1 {
			t.Errorf("%s reported success but has %d deliveries, %d runs, %d linked", id, deliveries[id], runs[id], linked[id])
		}
	}
	for id, n := range deliveries {
		if n != 1 || runs[id] != 1 || linked[id] != 1 {
			t.Errorf("%s: %d deliveries, %d runs, %d linked: duplicated or half-written", id, n, runs[id], linked[id])
		}
		if !ok[id] && !failed[id] {
			t.Errorf("%s is in the database but was never attempted", id)
		}
	}
	for id := range runs {
		if deliveries[id] == 0 {
			t.Errorf("run %s has no delivery: half-written intake", id)
		}
	}
	var committedAfterError []string
	for id := range failed {
		if deliveries[id] == 1 {
			committedAfterError = append(committedAfterError, id)
		}
	}
	t.Logf("%d intakes succeeded, %d returned an error (%d of those had committed before the connection broke: %s)",
		len(ok), len(failed), len(committedAfterError), strings.Join(committedAfterError, " "))
	t.Logf("%d transient errors were retried", retries.n.Load())
	if len(ok) == 0 {
		t.Fatal("no intake survived the restart: the retry policy did not work")
	}
	if retries.n.Load() == 0 && len(failed) == 0 {
		t.Fatal("no intake met the restart: the test did not test anything")
	}
}

// countingHandler counts the store's retry warnings.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
