package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Token buckets live in the database: every caller (any process) draws
// from the same tokens; all of a request's buckets are taken or none.
func TestTakeTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *DB, clock *storetest.Clock) {
		ctx := context.Background()
		q := Quota{Installation: Limit{PerHour: 5}, User: Limit{PerHour: 3}}
		take := func(user string) (bool, time.Duration) {
			t.Helper()
			ok, wait, err := db.TakeTokens(ctx, q.Buckets("build", 1, "o/r", user))
			if err != nil {
				t.Fatal(err)
			}
			return ok, wait
		}
		// Concurrent takers share the user's three tokens.
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, _, err := db.TakeTokens(ctx, q.Buckets("build", 1, "o/r", "alice"))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if granted != 3 {
			t.Fatalf("%d of 6 concurrent takes granted, want 3 (the user's bucket)", granted)
		}
		ok, wait := take("alice")
		if ok || wait < 19*time.Minute || wait > 21*time.Minute {
			t.Fatalf("empty bucket: ok=%v wait=%s, want a refusal and about 20m", ok, wait)
		}
		// Bob has his own bucket, but the installation's has two left.
		if ok, _ := take("bob"); !ok {
			t.Fatal("bob refused")
		}
		if ok, _ := take("bob"); !ok {
			t.Fatal("bob refused")
		}
		if ok, _ := take("bob"); ok {
			t.Fatal("installation bucket exceeded")
		}
		// A refusal takes nothing: after 12 minutes the installation has
		// one token, which bob gets.
		clock.Advance(12 * time.Minute)
		if ok, _ := take("bob"); !ok {
			t.Fatal("refilled bucket refused")
		}
		if ok, _ := take("carol"); ok {
			t.Fatal("installation bucket exceeded after refill")
		}
		// Buckets unused for a day are dropped (they are full by then).
		if n, err := db.PruneQuotaBuckets(ctx); err != nil || n != 0 {
			t.Fatalf("pruned %d fresh buckets (%v)", n, err)
		}
		clock.Advance(25 * time.Hour)
		if n, err := db.PruneQuotaBuckets(ctx); err != nil || n != 4 {
			t.Fatalf("pruned %d idle buckets (%v), want 4", n, err)
		}
		if ok, _ := take("alice"); !ok {
			t.Fatal("a pruned bucket does not start full")
		}
		// Unlimited quotas take nothing.
		if ok, _, err := db.TakeTokens(ctx, Quota{}.Buckets("build", 1, "o/r", "x")); !ok || err != nil {
			t.Fatalf("no quota: %v %v", ok, err)
		}
	})
}

func TestParseQuota(t *testing.T) {
	def := Quota{Installation: Limit{300}, Repo: Limit{100}, User: Limit{30}}
	tests := []struct {
		name, in string
		want     Quota
		err      bool
	}{
		{name: "empty", in: "", want: def},
		{name: "one scope", in: "user=5", want: Quota{Installation: Limit{300}, Repo: Limit{100}, User: Limit{5}}},
		{name: "all, spaced", in: " installation=10 , repo=0,user=2.5", want: Quota{Installation: Limit{10}, User: Limit{2.5}}},
		{name: "unknown scope", in: "org=5", err: true},
		{name: "negative", in: "user=-1", err: true},
		{name: "no value", in: "user", err: true},
		{name: "not a number", in: "user=lots", err: true},
		{name: "infinite", in: "user=Inf", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuota(tc.in, def)
			if (err != nil) != tc.err || (!tc.err && got != tc.want) {
				t.Fatalf("ParseQuota(%q) = %+v, %v; want %+v (error %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// Attack: a GitHub App's login (name[bot], linux-builder[schedule]) acts
// in every installation; its user bucket must not be one bucket shared by
// all of them, or one tenant's scheduled rebuilds (or a bot's pushes)
// exhaust every other tenant's.
func TestBotUserBucketPerInstallation(t *testing.T) {
	for _, by := range []string{"linux-builder[schedule]", "dependabot[bot]"} {
		a := DefaultBuildQuota.Buckets("build", 1, "alice/x", by)
		b := DefaultBuildQuota.Buckets("build", 2, "bob/y", by)
		for _, x := range a {
			for _, y := range b {
				if x.Key == y.Key {
					t.Errorf("%s: installations 1 and 2 share the build bucket %q", by, x.Key)
				}
			}
		}
		if len(a) != 3 {
			t.Errorf("%s: %d buckets, want installation, repo and user", by, len(a))
		}
	}
	// A person's bucket follows them across installations.
	a := DefaultBuildQuota.Buckets("build", 1, "alice/x", "mallory")
	b := DefaultBuildQuota.Buckets("build", 2, "bob/y", "mallory")
	if a[2].Key != b[2].Key {
		t.Errorf("a person's user bucket differs per installation: %q, %q", a[2].Key, b[2].Key)
	}
}
