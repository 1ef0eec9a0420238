package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		ctx := context.Background()
		a, err := db.CreateToken(ctx, "ci", store.ScopeBuild, "hash-a")
		if err != nil || a.ID == 0 || !a.CreatedAt.Equal(c.T) {
			t.Fatalf("create: %+v %v", a, err)
		}
		if _, err := db.CreateToken(ctx, "ci", store.ScopeRead, "hash-b"); !errors.Is(err, store.ErrTokenExists) {
			t.Fatalf("a live name again: %v", err)
		}
		for _, bad := range []struct {
			name  string
			scope store.Scope
		}{{"", store.ScopeRead}, {"a b", store.ScopeRead}, {"x/../y", store.ScopeRead}, {"ok", "root"}} {
			if _, err := db.CreateToken(ctx, bad.name, bad.scope, "h-"+bad.name); err == nil {
				t.Fatalf("token %q %q accepted", bad.name, bad.scope)
			}
		}
		got, err := db.TokenByHash(ctx, "hash-a")
		if err != nil || got.ID != a.ID || got.Scope != store.ScopeBuild {
			t.Fatalf("by hash: %+v %v", got, err)
		}
		if _, err := db.TokenByHash(ctx, "hash-z"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
		c.Advance(time.Hour)
		if err := db.TouchToken(ctx, a.ID, c.T); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke twice: %v", err)
		}
		if _, err := db.TokenByHash(ctx, "hash-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a revoked token is found: %v", err)
		}
		b, err := db.CreateToken(ctx, "ci", store.ScopeAdmin, "hash-b")
		if err != nil {
			t.Fatalf("the name of a revoked token again: %v", err)
		}
		live, err := db.Tokens(ctx, false)
		if err != nil || len(live) != 1 || live[0].ID != b.ID {
			t.Fatalf("live tokens %+v %v", live, err)
		}
		all, err := db.Tokens(ctx, true)
		if err != nil || len(all) != 2 || all[0].RevokedAt == nil || all[0].LastUsedAt == nil || !all[0].LastUsedAt.Equal(c.T) {
			t.Fatalf("all tokens %+v %v", all, err)
		}

		// A run belongs to its token; the filter and the predicate agree.
		mine := &store.Run{Trigger: run.TriggerAPI, Repo: "api", APITokenID: &b.ID}
		theirs := &store.Run{Trigger: run.TriggerPush, Repo: "o/r"}
		for _, r := range []*store.Run{mine, theirs} {
			if err := db.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		runs, err := db.ListRuns(ctx, store.RunFilter{APITokenID: b.ID})
		if err != nil || len(runs) != 1 || runs[0].ID != mine.ID || runs[0].APITokenID == nil || *runs[0].APITokenID != b.ID {
			t.Fatalf("the token's runs %+v %v", runs, err)
		}
		if runs, err = db.ListRuns(ctx, store.RunFilter{Trigger: run.TriggerPush}); err != nil || len(runs) != 1 || runs[0].ID != theirs.ID {
			t.Fatalf("by trigger %+v %v", runs, err)
		}
		for _, tc := range []struct {
			r     *store.Run
			id    int64
			scope store.Scope
			want  bool
		}{
			{mine, b.ID, store.ScopeRead, true}, {mine, b.ID + 1, store.ScopeBuild, false}, {theirs, b.ID, store.ScopeBuild, false},
			{theirs, 0, store.ScopeAdmin, true}, {mine, b.ID, "", false},
		} {
			if got := store.RunVisible(tc.r, tc.id, tc.scope); got != tc.want {
				t.Errorf("RunVisible(run %d, token %d, %s) = %v", tc.r.ID, tc.id, tc.scope, got)
			}
		}
	})
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		has, need store.Scope
		want      bool
	}{
		{store.ScopeRead, store.ScopeRead, true}, {store.ScopeRead, store.ScopeBuild, false}, {store.ScopeBuild, store.ScopeRead, true},
		{store.ScopeBuild, store.ScopeAdmin, false}, {store.ScopeAdmin, store.ScopeBuild, true}, {"", store.ScopeRead, false}, {"root", store.ScopeRead, false},
	} {
		if got := tc.has.Allows(tc.need); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v", tc.has, tc.need, got)
		}
	}
	if s, err := store.ParseScope(" Admin "); err != nil || s != store.ScopeAdmin {
		t.Fatalf("ParseScope: %q %v", s, err)
	}
	if _, err := store.ParseScope("superuser"); err == nil {
		t.Fatal("ParseScope accepts superuser")
	}
}
