package live

import (
	"context"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// PostgreSQL hands out ids before commit: a line with a lower id can
// commit after one with a higher id has been sent. The poller's lookback
// still sends it, once.
func TestSSELineCommittedOutOfIDOrder(t *testing.T) {
	c := &storetest.Clock{T: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	db := storetest.Postgres(t, c)
	s := startServer(t, db, c, Options{Now: time.Now})
	id := s.newRun(t)
	cl := s.follow(t, id, "")
	cl.next(t, "status")
	eventually(t, "the run is watched", func() bool { return s.hub.Watched() == 1 })

	ctx := context.Background()
	early, err := db.Bun.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback()
	first := store.RunLog{RunID: id, Step: run.Building, Level: run.LogInfo, Message: "lower id, committed last", At: c.Now()}
	if _, err := early.NewInsert().Model(&first).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s.logs(t, id, "higher id, committed first")
	if l := decode[LogData](t, cl.next(t, "log")); l.Message != "higher id, committed first" || l.ID <= first.ID {
		t.Fatalf("first line sent %+v (the open transaction's id is %d)", l, first.ID)
	}
	time.Sleep(300 * time.Millisecond) // six polls: the lookback (1 s), not the next poll, finds it
	if err := early.Commit(); err != nil {
		t.Fatal(err)
	}
	if l := decode[LogData](t, cl.next(t, "log")); l.ID != first.ID {
		t.Fatalf("late line: %+v, want id %d", l, first.ID)
	}
	s.logs(t, id, "after")
	if l := decode[LogData](t, cl.next(t, "log")); l.Message != "after" {
		t.Fatalf("then %+v, want the next line (the late one once)", l)
	}
}
