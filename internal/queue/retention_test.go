package queue

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Retention deletes expired artifacts from the artifact store (twice is
// fine: the object may already be gone) and their rows; rows recorded
// before the store lose their local file; unexpired ones stay.
func TestRetentionDeletesFromTheStore(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		as, err := artifacts.Open(ctx, artifacts.Config{URL: "file://" + t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer as.Close()
		rn := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "x.yaml"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		put := func(name string) string {
			key, _ := artifacts.RunKey(rn.ID, name)
			if _, err := as.Put(ctx, key, strings.NewReader(name)); err != nil {
				t.Fatal(err)
			}
			return key
		}
		legacy := filepath.Join(t.TempDir(), "old.iso")
		if err := os.WriteFile(legacy, []byte("old"), 0o640); err != nil {
			t.Fatal(err)
		}
		gone, _ := artifacts.RunKey(rn.ID, "gone.log")
		rows := []store.Artifact{
			{Name: "linux.iso", Type: run.ArtifactISO, Key: put("linux.iso"), ExpiresAt: &past},
			{Name: "gone.log", Type: run.ArtifactLog, Key: gone, ExpiresAt: &past},
			{Name: "old.iso", Type: run.ArtifactImage, Location: legacy, ExpiresAt: &past},
			{Name: "spec.json", Type: run.ArtifactSpec, Key: put("spec.json"), ExpiresAt: &future},
		}
		for i := range rows {
			rows[i].RunID = rn.ID
			if err := db.AddArtifact(ctx, &rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		w := &retentionWorker{db: db, artifacts: as, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := w.Work(ctx, nil); err != nil {
			t.Fatal(err)
		}
		left, err := db.Artifacts(ctx, rn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].Name != "spec.json" {
			t.Fatalf("rows left %+v, want spec.json only", left)
		}
		if _, err := as.Stat(ctx, rows[0].Key); !artifacts.IsNotFound(err) {
			t.Fatalf("the expired object is still there: %v", err)
		}
		if _, err := as.Stat(ctx, rows[3].Key); err != nil {
			t.Fatalf("the unexpired object: %v", err)
		}
		if _, err := os.Stat(legacy); !os.IsNotExist(err) {
			t.Fatalf("the legacy file: %v", err)
		}
	})
}
