package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// TestOneInstallationCannotTakeEveryBuilder is the noisy tenant: many
// pushes at once from one installation, two worker processes with two
// workers each. At most MaxBuildsPerInstallation of its builds run at
// once; another installation's build is not held up; all finish.
func TestOneInstallationCannotTakeEveryBuilder(t *testing.T) {
	old := slotWait
	slotWait = 100 * time.Millisecond
	t.Cleanup(func() { slotWait = old })
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		var mu sync.Mutex
		running, most := map[int64]int{}, map[int64]int{}
		installationOf := map[int64]int64{}
		runner := newFakeRunner(func(ctx context.Context, runID int64) error {
			mu.Lock()
			inst := installationOf[runID]
			running[inst]++
			most[inst] = max(most[inst], running[inst])
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			running[inst]--
			mu.Unlock()
			return nil
		})
		var queues []*testQueue
		for range 2 {
			q, err := newQueue(db, WorkerConfig{Workers: 2, Runner: runner, Logger: quiet, MaxBuildsPerInstallation: 1, Syncer: nopSyncer{}})
			if err != nil {
				t.Fatal(err)
			}
			queues = append(queues, q)
		}
		var ids []int64
		for i, inst := range []int64{7, 7, 7, 7, 8} {
			i7 := inst
			d := &store.Delivery{AppID: 1, DeliveryID: "s" + string(rune('a'+i)), Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}
			res, err := db.Intake(ctx, &store.IntakeItem{Delivery: d, Intent: store.Intent{Outcome: d.Outcome, Reason: d.Reason, Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r",
				Ref: "refs/heads/b" + string(rune('a'+i)), HeadSHA: "sha" + string(rune('a'+i)), InstallationID: &i7}}}, queues[0])
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			installationOf[res.RunID] = inst
			mu.Unlock()
			ids = append(ids, res.RunID)
		}
		for _, q := range queues {
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Stop(context.Background()) })
		}
		done := map[int64]bool{}
		for len(done) < len(ids) {
			select {
			case id := <-runner.done:
				done[id] = true
			case <-time.After(60 * time.Second):
				t.Fatalf("only %d of %d builds ran", len(done), len(ids))
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if most[7] != 1 {
			t.Errorf("installation 7 ran %d builds at once; the bound is 1", most[7])
		}
	})
}

type nopSyncer struct{}

func (nopSyncer) Sync(context.Context, int64, run.SyncReason) error { return nil }

func TestBuildSlots(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		r1, ok1, err1 := db.AcquireBuildSlot(ctx, 42, 2)
		r2, ok2, err2 := db.AcquireBuildSlot(ctx, 42, 2)
		_, ok3, err3 := db.AcquireBuildSlot(ctx, 42, 2)
		if err1 != nil || err2 != nil || err3 != nil || !ok1 || !ok2 || ok3 {
			t.Fatalf("slots: %v %v %v / %v %v %v; want two, then none", ok1, ok2, ok3, err1, err2, err3)
		}
		r4, ok4, _ := db.AcquireBuildSlot(ctx, 43, 2)
		if !ok4 {
			t.Fatal("another installation found no slot")
		}
		r4()
		r1()
		r1() // twice is harmless
		r5, ok5, err := db.AcquireBuildSlot(ctx, 42, 2)
		if err != nil || !ok5 {
			t.Fatalf("a released slot was not free again: %v", err)
		}
		r5()
		r2()
	})
}
