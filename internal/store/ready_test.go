package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// A flood of readiness probes (/readyz is on the public port) costs the
// database one check per second, not one per probe, failing answers
// included; migrating through the store is seen at once.
func TestReadyIsSharedAndCached(t *testing.T) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"postgres", storetest.PostgresUnmigrated}, {"sqlite", storetest.SQLiteUnmigrated}} {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 200)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = db.Ready(ctx)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if !errors.Is(err, store.ErrSchemaNotCurrent) {
					t.Fatalf("an unmigrated database: %v, want ErrSchemaNotCurrent", err)
				}
			}
			if n := db.ReadyChecks(); n > 2 {
				t.Fatalf("200 probes made %d checks, want 1 (or 2 across a second's edge)", n)
			}
			if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
				t.Fatal(err)
			}
			if err := db.Ready(ctx); err != nil {
				t.Fatalf("after migrating: %v", err)
			}
		})
	}
}
