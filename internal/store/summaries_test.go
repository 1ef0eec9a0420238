package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Lists served to the web read no spec: a page of 50 runs of 256 KiB
// specs would hold 25 MiB per request.
func TestListRunSummariesLeaveTheSpecOut(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		r := &store.Run{Trigger: run.TriggerCLI, Repo: "sum/mary", SpecSource: strings.Repeat("# big\n", 1000), Diagnostics: `[{"message":"x"}]`}
		if err := db.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		sums, err := db.ListRunSummaries(ctx, store.RunFilter{Repo: "sum/mary"})
		if err != nil || len(sums) != 1 {
			t.Fatalf("summaries: %d, %v", len(sums), err)
		}
		if s := sums[0]; s.ID != r.ID || s.SpecSource != "" || s.Diagnostics != "" || s.Repo != "sum/mary" {
			t.Errorf("summary %+v", s)
		}
		full, err := db.ListRuns(ctx, store.RunFilter{Repo: "sum/mary"})
		if err != nil || len(full) != 1 || full[0].SpecSource != r.SpecSource {
			t.Errorf("ListRuns lost the spec: %v", err)
		}
	})
}
