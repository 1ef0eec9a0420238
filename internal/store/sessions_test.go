package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func TestSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		now := time.Now()
		live := &store.WebSession{ID: store.SessionID("live-secret"), Login: "mona", UserID: 1, CSRF: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		old := &store.WebSession{ID: store.SessionID("old-secret"), Login: "old", UserID: 2, CSRF: "c2", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
		for _, s := range []*store.WebSession{live, old} {
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateSession(ctx, &store.WebSession{ID: "x"}); err == nil {
			t.Error("a session without a login was recorded")
		}
		got, err := db.Session(ctx, "live-secret", now)
		if err != nil || got.Login != "mona" || got.CSRF != "c1" {
			t.Fatalf("live session: %+v, %v", got, err)
		}
		// The row's id is the secret's hash: the id itself signs nobody in.
		if _, err := db.Session(ctx, live.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the row id worked as a cookie: %v", err)
		}
		if _, err := db.Session(ctx, "old-secret", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		if n, err := db.DeleteExpiredSessions(ctx, now, 100); err != nil || n != 1 {
			t.Errorf("delete expired: %d, %v", n, err)
		}
		if err := db.DeleteSession(ctx, "live-secret"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, "live-secret", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("signed-out session: %v", err)
		}
	})
}
