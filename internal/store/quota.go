package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Bucket is one token bucket: it holds at most Burst tokens and gains
// PerHour tokens an hour, continuously. Its state lives in the database,
// so every process sharing it draws from the same buckets.
type Bucket struct {
	Key     string
	Burst   float64
	PerHour float64
}

type quotaBucket struct {
	bun.BaseModel `bun:"table:quota_buckets,alias:qb"`

	Key       string    `bun:"key,pk"`
	Tokens    float64   `bun:"tokens,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// TakeTokens takes one token from each bucket, all or none, in one
// transaction. When one of them is empty it takes nothing and says how
// long until every bucket has a token again. Buckets with no PerHour or
// no Burst are unlimited and skipped.
func (db *DB) TakeTokens(ctx context.Context, buckets []Bucket) (bool, time.Duration, error) {
	live := make([]Bucket, 0, len(buckets))
	for _, b := range buckets {
		if b.PerHour > 0 && b.Burst > 0 {
			live = append(live, b)
		}
	}
	if len(live) == 0 {
		return true, 0, nil
	}
	// One order for every caller: two transactions never wait for each
	// other's rows crosswise.
	sort.Slice(live, func(i, j int) bool { return live[i].Key < live[j].Key })
	var (
		ok   bool
		wait time.Duration
	)
	err := db.inTx(ctx, "take quota tokens", func(ctx context.Context, tx bun.Tx) error {
		now := db.utcNow()
		keys := make([]string, len(live))
		fresh := make([]quotaBucket, len(live))
		for i, b := range live {
			keys[i] = b.Key
			fresh[i] = quotaBucket{Key: b.Key, Tokens: b.Burst, UpdatedAt: now}
		}
		if _, err := tx.NewInsert().Model(&fresh).On("CONFLICT (key) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("create quota buckets: %w", err)
		}
		var rows []quotaBucket
		q := tx.NewSelect().Model(&rows).Where("key IN (?)", bun.List(keys)).OrderExpr("key")
		if db.Dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("read quota buckets: %w", err)
		}
		if len(rows) != len(live) {
			return fmt.Errorf("read quota buckets: %d of %d", len(rows), len(live))
		}
		ok, wait = true, 0
		for i := range rows {
			b := live[i]
			elapsed := now.Sub(rows[i].UpdatedAt).Hours()
			rows[i].Tokens = math.Min(b.Burst, rows[i].Tokens+math.Max(0, elapsed)*b.PerHour)
			rows[i].UpdatedAt = now
			if rows[i].Tokens < 1 {
				ok = false
				if w := time.Duration((1 - rows[i].Tokens) / b.PerHour * float64(time.Hour)); w > wait {
					wait = w
				}
			}
		}
		if !ok {
			return nil // nothing taken; the stored state refills by itself
		}
		for i := range rows {
			rows[i].Tokens--
			if _, err := tx.NewUpdate().Model(&rows[i]).Column("tokens", "updated_at").WherePK().Exec(ctx); err != nil {
				return fmt.Errorf("take quota token %s: %w", rows[i].Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return ok, wait.Round(time.Second) + time.Second, nil
}

// Limit is the size of a quota's buckets: at most PerHour in any burst,
// refilled at PerHour an hour. Zero is unlimited.
type Limit struct {
	PerHour float64
}

// Quota limits something (commands, builds) per installation, repository
// and user.
type Quota struct {
	Installation, Repo, User Limit
}

// Default quotas: generous for people, a ceiling for floods.
var (
	DefaultCommandQuota = Quota{Installation: Limit{300}, Repo: Limit{100}, User: Limit{30}}
	DefaultBuildQuota   = Quota{Installation: Limit{60}, Repo: Limit{30}, User: Limit{20}}
)

// Buckets are q's buckets for what (a name such as "command" or "build")
// asked by user in repo of installation (0: none). An app's user bucket
// (a login name[...]) is per installation.
func (q Quota) Buckets(what string, installation int64, repo, user string) []Bucket {
	var out []Bucket
	add := func(l Limit, key string) {
		if l.PerHour > 0 {
			out = append(out, Bucket{Key: what + ":" + key, Burst: l.PerHour, PerHour: l.PerHour})
		}
	}
	if installation != 0 {
		add(q.Installation, fmt.Sprintf("installation:%d", installation))
	}
	if repo != "" {
		add(q.Repo, "repo:"+repo)
	}
	if user != "" {
		key := "user:" + user
		if isApp(user) && installation != 0 {
			// An app (linux-builder[schedule], dependabot[bot]) acts for
			// every installation: one bucket for all of them would let
			// one tenant's flood (say, scheduled rebuilds its image asks
			// for) stop everyone else's. Per installation, it is a user of
			// that installation only.
			key += fmt.Sprintf("@installation:%d", installation)
		}
		add(q.User, key)
	}
	return out
}

// isApp reports whether login is a GitHub App's (name[bot]) or the bot's
// own (linux-builder[schedule]): people's logins have no brackets.
func isApp(login string) bool {
	return strings.HasSuffix(login, "]") && strings.Contains(login, "[")
}

// ParseQuota reads a quota setting: comma-separated scope=per-hour pairs
// (installation, repo, user), e.g. "installation=300,repo=100,user=30";
// scopes not named keep def's value, 0 makes a scope unlimited, and ""
// is def.
func ParseQuota(s string, def Quota) (Quota, error) {
	q := def
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		scope, val, ok := strings.Cut(part, "=")
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return def, fmt.Errorf("quota %q: want scope=per-hour, e.g. user=30", part)
		}
		switch strings.TrimSpace(scope) {
		case "installation":
			q.Installation.PerHour = n
		case "repo":
			q.Repo.PerHour = n
		case "user":
			q.User.PerHour = n
		default:
			return def, fmt.Errorf("quota %q: the scopes are installation, repo and user", part)
		}
	}
	return q, nil
}

// quotaIdle is how long after its last use a bucket is dropped: every
// bucket is full again within an hour (it holds an hour's tokens), and a
// missing bucket is created full, so nothing changes but the table's
// size.
const quotaIdle = 24 * time.Hour

// PruneQuotaBuckets deletes the buckets unused for a day and returns
// how many it deleted.
func (db *DB) PruneQuotaBuckets(ctx context.Context) (int64, error) {
	var n int64
	err := db.withRetry(ctx, "prune quota buckets", func(ctx context.Context) error {
		res, err := db.Bun.NewDelete().Model((*quotaBucket)(nil)).Where("updated_at < ?", db.utcNow().Add(-quotaIdle)).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune quota buckets: %w", err)
	}
	return n, nil
}
