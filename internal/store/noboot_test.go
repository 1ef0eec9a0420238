package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// noBootTestMigration is the migration that adds runs.no_boot_test.
const noBootTestMigration = "20261206000100"

// migrationsWithout is the embedded migrations less those whose file
// name starts with name: the schema as it was before them.
func migrationsWithout(t *testing.T, name string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(linuxbuilder.Migrations, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), name+"_") {
			return err
		}
		b, err := fs.ReadFile(linuxbuilder.Migrations, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// insertWithoutNoBootTest inserts a run as the code before the column
// did: the database gives the column its value.
func insertWithoutNoBootTest(ctx context.Context, t *testing.T, db *store.DB) int64 {
	t.Helper()
	r := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "x.yaml", Status: run.StatusPending, Step: run.Pending,
		Warnings: []string{}, Diagnostics: "[]"}
	if _, err := db.Bun.NewInsert().Model(r).ExcludeColumn("id", "no_boot_test").Returning("id").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// hasNoBootTest reports whether the runs table has the column.
func hasNoBootTest(ctx context.Context, db *store.DB) bool {
	var n int
	return db.Bun.NewRaw("SELECT count(*) FROM runs WHERE no_boot_test").Scan(ctx, &n) == nil
}

// The no_boot_test migration on its own, in both dialects: up adds the
// column, false for the runs already there and for rows that do not set
// it; down removes it and keeps the runs; up again works.
func TestNoBootTestMigrationUpDown(t *testing.T) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"postgres", storetest.PostgresUnmigrated}, {"sqlite", storetest.SQLiteUnmigrated}} {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db := d.open(t)
			if _, err := db.MigrateUp(ctx, migrationsWithout(t, noBootTestMigration)); err != nil {
				t.Fatal(err)
			}
			if hasNoBootTest(ctx, db) {
				t.Fatal("runs.no_boot_test exists before its migration")
			}
			before := insertWithoutNoBootTest(ctx, t, db)

			applied, err := db.MigrateUp(ctx, linuxbuilder.Migrations)
			if err != nil || !slices.Equal(applied, []string{noBootTestMigration}) {
				t.Fatalf("up applied %v (%v), want [%s]", applied, err, noBootTestMigration)
			}
			if r, err := db.Run(ctx, before); err != nil || r.NoBootTest {
				t.Fatalf("a run from before the migration: %+v, %v (want no_boot_test false)", r, err)
			}
			if r, err := db.Run(ctx, insertWithoutNoBootTest(ctx, t, db)); err != nil || r.NoBootTest {
				t.Fatalf("a row that does not set the column: %+v, %v (want the default, false)", r, err)
			}
			asked := &store.Run{Trigger: run.TriggerAPI, Repo: "api", SpecPath: "linux-build.yaml", NoBootTest: true}
			if err := db.CreateRun(ctx, asked); err != nil {
				t.Fatal(err)
			}
			if r, err := db.Run(ctx, asked.ID); err != nil || !r.NoBootTest {
				t.Fatalf("a run asking for no boot test reads back %+v, %v", r, err)
			}
			if _, err := db.Bun.NewRaw("UPDATE runs SET no_boot_test = NULL WHERE id = ?", before).Exec(ctx); err == nil {
				t.Error("runs.no_boot_test accepts NULL")
			}

			down, err := db.MigrateDown(ctx, linuxbuilder.Migrations)
			if err != nil || !slices.Equal(down, []string{noBootTestMigration}) {
				t.Fatalf("down rolled back %v (%v), want [%s]", down, err, noBootTestMigration)
			}
			if hasNoBootTest(ctx, db) {
				t.Fatal("runs.no_boot_test is still there after down")
			}
			var runs int
			if err := db.Bun.NewRaw("SELECT count(*) FROM runs").Scan(ctx, &runs); err != nil || runs != 3 {
				t.Fatalf("runs after down: %d, %v (want the 3 kept)", runs, err)
			}

			if applied, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil || !slices.Equal(applied, []string{noBootTestMigration}) {
				t.Fatalf("up again applied %v (%v)", applied, err)
			}
			if r, err := db.Run(ctx, asked.ID); err != nil || r.NoBootTest {
				t.Fatalf("after down and up, the column starts again from its default: %+v, %v", r, err)
			}
		})
	}
}

// A rebuild keeps the flag of the run it rebuilds (the API's rebuild,
// the check run's Rebuild, /build retry and the scheduled rebuilds all
// make theirs with Rerun).
func TestRerunKeepsNoBootTest(t *testing.T) {
	for _, asked := range []bool{false, true} {
		r := &store.Run{ID: 4, Trigger: run.TriggerAPI, Repo: "api", NoBootTest: asked}
		if got := r.Rerun("someone"); got.NoBootTest != asked || !got.NoCache {
			t.Errorf("the rerun of a run with NoBootTest %v: NoBootTest %v, NoCache %v", asked, got.NoBootTest, got.NoCache)
		}
	}
}

// The lists carry the flag: ListRunSummaries leaves out the large
// columns only, and ListRuns (the rebuilds' reads) every column.
func TestListsCarryNoBootTest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		for _, asked := range []bool{true, false} {
			if err := db.CreateRun(ctx, &store.Run{Trigger: run.TriggerAPI, Repo: "api", NoBootTest: asked}); err != nil {
				t.Fatal(err)
			}
		}
		sums, err := db.ListRunSummaries(ctx, store.RunFilter{Repo: "api"})
		if err != nil || len(sums) != 2 || sums[0].NoBootTest || !sums[1].NoBootTest {
			t.Fatalf("summaries %+v, %v: want the newest without the flag, the other with it", sums, err)
		}
		full, err := db.ListRuns(ctx, store.RunFilter{Repo: "api"})
		if err != nil || len(full) != 2 || full[0].NoBootTest || !full[1].NoBootTest {
			t.Fatalf("runs %+v, %v", full, err)
		}
	})
}
