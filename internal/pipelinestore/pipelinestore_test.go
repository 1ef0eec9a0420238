package pipelinestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStoreMapsRunsBothWays(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		s := Store{DB: db}
		inst := int64(7)
		rn := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", SpecPath: "linux-build.yaml", InstallationID: &inst}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		if err := s.EnterStep(ctx, rn.ID, run.Validating); err != nil {
			t.Fatal(err)
		}
		rec, err := s.LoadRun(ctx, rn.ID)
		if err != nil || rec.State != run.Validating || rec.InstallationID != 7 || rec.HeadSHA != "abc" {
			t.Fatalf("load %+v %v", rec, err)
		}
		if err := s.Finish(ctx, rn.ID, run.Validating, "x"); err == nil {
			t.Fatal("finished in a state that is not final")
		}
		if err := s.RecordHashes(ctx, rn.ID, "h1", "spec-h1"); err != nil {
			t.Fatal(err)
		}
		// No cache until a successful run with that context has artifacts.
		if _, err := s.CachedArtifacts(ctx, "h1"); !errors.Is(err, pipeline.ErrNoCache) {
			t.Fatalf("cache before success: %v", err)
		}
		art := pipeline.Artifact{Name: "linux.iso", Type: run.ArtifactType("iso"), Path: "/a/linux.iso", Size: 3, SHA256: "ff"}
		if err := s.AddArtifact(ctx, rn.ID, art); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, rn.ID, run.Complete, ""); err != nil {
			t.Fatal(err)
		}
		got, err := db.Run(ctx, rn.ID)
		if err != nil || got.Status != run.StatusSuccess || got.ContextHash != "h1" || got.SpecHash != "spec-h1" {
			t.Fatalf("run %+v %v", got, err)
		}
		rec, err = s.LoadRun(ctx, rn.ID)
		if err != nil || rec.State != run.Complete {
			t.Fatalf("a successful run loads as %v (%v)", rec.State, err)
		}
		c, err := s.CachedArtifacts(ctx, "h1")
		id, arts := c.Run, c.Artifacts
		if err != nil || id != rn.ID || len(arts) != 1 || arts[0] != art {
			t.Fatalf("cache: %d %+v %v", id, arts, err)
		}
		if err := s.MarkPartial(ctx, rn.ID, pipeline.Partial{Reason: "the ISO did not boot", Failed: true}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Run(ctx, rn.ID); got.PartialReason != "the ISO did not boot" {
			t.Fatalf("partial reason %q", got.PartialReason)
		}
		if err := s.MarkPartial(ctx, 999999, pipeline.Partial{Reason: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("partial on a missing run: %v", err)
		}
	})
}

// Log lines ask for at most one check-run sync per run per delay;
// transitions always ask.
func TestSyncReporterThrottlesLogSyncs(t *testing.T) {
	db := storetest.Postgres(t, nil)
	ctx := context.Background()
	q, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &SyncReporter{Syncs: q, Logger: quiet}
	for i := 0; i < 50; i++ {
		r.Log(ctx, pipeline.LogLine{RunID: 1, Message: "line", At: time.Now()})
		r.Log(ctx, pipeline.LogLine{RunID: 2, Message: "line", At: time.Now()})
	}
	r.Transition(ctx, 1, run.Validating, run.Generating, "")
	r.Transition(ctx, 1, run.Generating, run.Building, "")
	var logSyncs, stateSyncs int
	if err := db.SQL.QueryRow(`SELECT count(*) FILTER (WHERE args->>'reason' = 'log'), count(*) FILTER (WHERE args->>'reason' = 'state')
		FROM river_job WHERE kind = 'check_sync'`).Scan(&logSyncs, &stateSyncs); err != nil {
		t.Fatal(err)
	}
	if logSyncs != 2 || stateSyncs != 2 {
		t.Fatalf("%d log syncs (want one per run), %d state syncs (want 2)", logSyncs, stateSyncs)
	}
}

// A GitHub run that the pipeline finishes COMPLETE gets its release job
// through the adapter; one finished FAILED does not; EachLog gives the
// run's log back in order, page after page.
func TestStoreFinishQueuesReleasesAndReadsLogs(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		q, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		s := Store{DB: db, Releases: q}
		inst := int64(7)
		var ids []int64
		for range 2 {
			run := &store.Run{Trigger: run.TriggerPush, Repo: "o/r", HeadSHA: "abc", InstallationID: &inst}
			if err := db.CreateRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, run.ID)
		}
		if err := s.Finish(ctx, ids[0], run.Complete, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, ids[1], run.Failed, "exit 1"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'publish_release'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d release jobs (%v), want 1 (the successful run's)", n, err)
		}
		const lines = 5003
		batch := make([]pipeline.LogLine, lines)
		for i := range batch {
			batch[i] = pipeline.LogLine{RunID: ids[0], Step: run.Building, Level: "info", Message: fmt.Sprint(i), At: time.Now()}
		}
		if err := s.AppendLogs(ctx, batch); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := s.EachLog(ctx, ids[0], func(l pipeline.LogLine) error {
			if l.Step != run.Building || l.Level != "info" {
				return fmt.Errorf("line %+v", l)
			}
			got = append(got, l.Message)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != lines || got[0] != "0" || got[lines-1] != fmt.Sprint(lines-1) {
			t.Fatalf("%d lines, first %q", len(got), got[:1])
		}
	})
}

// A run's NoBootTest reaches the pipeline's record (and its absence
// does: a run that did not ask is boot-tested).
func TestLoadRunCarriesNoBootTest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		s := Store{DB: db}
		for _, asked := range []bool{true, false} {
			rn := &store.Run{Trigger: run.TriggerAPI, Repo: "api", SpecPath: "linux-build.yaml", NoBootTest: asked}
			if err := db.CreateRun(ctx, rn); err != nil {
				t.Fatal(err)
			}
			rec, err := s.LoadRun(ctx, rn.ID)
			if err != nil || rec.NoBootTest != asked {
				t.Fatalf("run asking NoBootTest %v loads as %+v (%v)", asked, rec, err)
			}
		}
	})
}
