package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// RunsChangedSince pages by (updated_at, id): runs updated at the same
// instant are neither repeated nor skipped across pages; RunHeadOf and
// LastLogID read what the live streams poll.
func TestRunsChangedSince(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, c *storetest.Clock) {
		ctx := context.Background()
		start := c.Now()
		var ids []int64
		for i := range 5 {
			if i == 3 {
				c.Advance(time.Second)
			}
			r := &Run{Trigger: run.TriggerAPI, Repo: "o/r"}
			if err := db.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		var got []int64
		since, after := start.Add(-time.Millisecond), int64(0)
		for page := 0; page < 10; page++ {
			heads, err := db.RunsChangedSince(ctx, since, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range heads {
				got = append(got, h.ID)
				since, after = h.UpdatedAt, h.ID
			}
			if len(heads) < 2 {
				break
			}
		}
		if len(got) != 5 {
			t.Fatalf("paged %v, want the 5 runs %v once each", got, ids)
		}
		for i := range got {
			if got[i] != ids[i] {
				t.Fatalf("paged %v, want %v", got, ids)
			}
		}
		c.Advance(time.Second)
		if err := db.EnterStep(ctx, ids[0], run.Validating); err != nil {
			t.Fatal(err)
		}
		heads, err := db.RunsChangedSince(ctx, since, after, 10)
		if err != nil || len(heads) != 1 || heads[0].ID != ids[0] || heads[0].Step != run.Validating || heads[0].Status != run.StatusInProgress {
			t.Fatalf("after a step change: %+v, %v", heads, err)
		}
		h, err := db.RunHeadOf(ctx, ids[0])
		if err != nil || h.Step != run.Validating || !h.UpdatedAt.Equal(c.Now().UTC()) {
			t.Fatalf("RunHeadOf: %+v, %v", h, err)
		}
		if _, err := db.RunHeadOf(ctx, 1<<40); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RunHeadOf of no run: %v", err)
		}
		if n, err := db.LastLogID(ctx, ids[0]); err != nil || n != 0 {
			t.Fatalf("LastLogID without lines: %d, %v", n, err)
		}
		if err := db.AppendLogs(ctx, []RunLog{{RunID: ids[0], Message: "a"}, {RunID: ids[0], Message: "b"}, {RunID: ids[1], Message: "c"}}); err != nil {
			t.Fatal(err)
		}
		lines, err := db.Logs(ctx, ids[0], 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := db.LastLogID(ctx, ids[0]); err != nil || n != lines[1].ID {
			t.Fatalf("LastLogID: %d, %v; want %d", n, err, lines[1].ID)
		}
	})
}
