package queue

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// recordingSyncer records the reasons it was given.
type recordingSyncer struct{ reasons []run.SyncReason }

var _ Syncer = (*recordingSyncer)(nil)

func (r *recordingSyncer) Sync(_ context.Context, _ int64, reason run.SyncReason) error {
	r.reasons = append(r.reasons, reason)
	return nil
}

// A sync job passes its reason to the Syncer, and run.SyncFinal on its last
// attempt (the Syncer then records a failure instead of returning it).
func TestSyncJobPassesItsReason(t *testing.T) {
	tests := []struct {
		name    string
		reason  run.SyncReason
		attempt int
		want    run.SyncReason
	}{
		{name: "state", reason: run.SyncState, attempt: 1, want: run.SyncState},
		{name: "log", reason: run.SyncLog, attempt: 3, want: run.SyncLog},
		{name: "last attempt of a state sync", reason: run.SyncState, attempt: syncAttempts, want: run.SyncFinal},
		{name: "last attempt of a log sync", reason: run.SyncLog, attempt: syncAttempts, want: run.SyncFinal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &recordingSyncer{}
			job := &river.Job[SyncArgs]{JobRow: &rivertype.JobRow{Attempt: tt.attempt, MaxAttempts: syncAttempts},
				Args: SyncArgs{RunID: 1, Reason: tt.reason}}
			if err := (&syncWorker{s: s}).Work(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			if len(s.reasons) != 1 || s.reasons[0] != tt.want {
				t.Fatalf("reasons %v, want [%s]", s.reasons, tt.want)
			}
		})
	}
}

// Only state and log syncs are asked for; a log sync waits LogSyncDelay.
func TestSyncAsksForStateOrLog(t *testing.T) {
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	q := mustInsertOnly(t, db)
	if err := q.Sync(ctx, 1, run.SyncFinal); err == nil {
		t.Fatal("a final sync was asked for")
	}
	if err := q.Sync(ctx, 1, run.SyncLog); err != nil {
		t.Fatal(err)
	}
	if err := q.Sync(ctx, 1, run.SyncState); err != nil {
		t.Fatal(err)
	}
	var logs, states int
	if err := db.SQL.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state = 'scheduled' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'available' THEN 1 ELSE 0 END), 0)
		FROM river_job WHERE kind = 'check_sync'`).Scan(&logs, &states); err != nil {
		t.Fatal(err)
	}
	if logs != 1 || states != 1 {
		t.Fatalf("%d delayed log syncs and %d state syncs, want one each", logs, states)
	}
}
