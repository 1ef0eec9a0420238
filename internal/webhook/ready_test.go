package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// /readyz is not ready on a database nobody migrated, nor on one behind
// the embedded migrations (every delivery would answer 503), and says why;
// it is ready once the schema is current. Against real PostgreSQL and
// SQLite.
func TestReadyzWantsACurrentSchema(t *testing.T) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"postgres", storetest.PostgresUnmigrated}, {"sqlite", storetest.SQLiteUnmigrated}} {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db := d.open(t)
			app, err := New(Config{Secret: secret, AppID: 1, Store: db, Intake: stubIntake{}, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			readyz := func() (int, string) {
				t.Helper()
				resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, body := readyz(); code != 503 || !strings.Contains(body, "never migrated") || !strings.Contains(body, "migrate up") {
				t.Fatalf("unmigrated database: %d %q, want 503 saying it was never migrated", code, body)
			}
			if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
				t.Fatal(err)
			}
			if _, err := db.MigrateDown(ctx, linuxbuilder.Migrations); err != nil {
				t.Fatal(err)
			}
			if code, body := readyz(); code != 503 || !strings.Contains(body, "migrations pending") {
				t.Fatalf("schema behind: %d %q, want 503 naming the pending migrations", code, body)
			}
			if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
				t.Fatal(err)
			}
			if code, body := readyz(); code != 200 || body != "ready" {
				t.Fatalf("migrated database: %d %q, want 200 ready", code, body)
			}
		})
	}
}
