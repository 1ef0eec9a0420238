package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/run"
	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// The store's IN lists are written with bun.List (bun.In is deprecated):
// for every kind of slice the store passes (ids, strings such as delivery
// ids, digests and quota keys, run statuses, and an empty list) it renders
// the SQL bun.In rendered, on both databases.
func TestListRendersAsIn(t *testing.T) {
	tests := []struct {
		name, column string
		slice        any
		want         string
	}{
		{"ids", "id", []int64{3, 1, 2}, "id IN (3, 1, 2)"},
		{"strings", "repo", []string{"a", "it's"}, "repo IN ('a', 'it''s')"},
		{"statuses", "status", []run.Status{run.StatusPending, run.StatusInProgress}, "status IN ('PENDING', 'IN_PROGRESS')"},
		{"empty", "id", []int64{}, "id IN (NULL)"},
	}
	storetest.ForEach(t, func(t *testing.T, db *DB, _ *storetest.Clock) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				render := func(v any) string {
					return db.Bun.NewSelect().Model((*Run)(nil)).Column("id").Where(tc.column+" IN (?)", v).String()
				}
				list := render(bun.List(tc.slice))
				in := render(bun.In(tc.slice)) //nolint:staticcheck // SA1019: the deprecated form is the reference here
				if list != in {
					t.Fatalf("bun.List renders\n%s\nbun.In rendered\n%s", list, in)
				}
				if !strings.HasSuffix(list, "WHERE ("+tc.want+")") {
					t.Fatalf("got %s, want it to end with WHERE (%s)", list, tc.want)
				}
				var got []int64
				if err := db.Bun.NewSelect().Model((*Run)(nil)).Column("id").
					Where(tc.column+" IN (?)", bun.List(tc.slice)).Scan(context.Background(), &got); err != nil {
					t.Fatalf("the query does not run: %v", err)
				}
			})
		}
	})
}
