package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// OutcomeDeferred marks a delivery whose decision needs GitHub's API (who
// may build, which files a pull request changes): a job decides it after
// the webhook has been acknowledged, and records the final outcome.
const OutcomeDeferred Outcome = "deferred"

// Event job kinds.
const (
	EventPullRequest = "pull_request"
	EventCommand     = "command"
)

// EventJob is a deferred delivery: what the job needs to decide it,
// extracted from the payload at intake.
type EventJob struct {
	DeliveryRowID  int64  `json:"delivery_row_id"`
	Kind           string `json:"kind"`
	InstallationID int64  `json:"installation_id"`
	Repo           string `json:"repo"`             // the base repository, owner/name
	Number         int    `json:"number,omitempty"` // pull request or issue
	IsPullRequest  bool   `json:"is_pull_request,omitempty"`
	Action         string `json:"action,omitempty"`
	HeadSHA        string `json:"head_sha,omitempty"`
	HeadRepo       string `json:"head_repo,omitempty"`
	Fork           bool   `json:"fork,omitempty"`
	Actor          string `json:"actor"`             // who pushed or commented
	Command        string `json:"command,omitempty"` // for comments: a command word (internal/command)
	Argument       string `json:"argument,omitempty"`
	PRFlag         bool   `json:"pr_flag,omitempty"` // /build --pr
	DefaultBranch  string `json:"default_branch,omitempty"`
	CommentID      int64  `json:"comment_id,omitempty"`
	SpecPath       string `json:"spec_path"`
}

// ResolveResult says what Resolve did.
type ResolveResult struct {
	// Already is set when the delivery was resolved before (the job ran
	// again after a crash): nothing was written; RunID is the earlier one.
	Already   bool
	RunID     int64
	Coalesced bool
	Cancelled []int64
}

// Resolve records an event job's decision of a deferred delivery, with
// the run and job, approval, cancellation or pending spec it makes, in one
// transaction. It is idempotent: a delivery already resolved is left as it
// is, so a job that runs twice never builds twice. An intent that defers
// again (Event) is an error.
func (db *DB) Resolve(ctx context.Context, deliveryRowID int64, r Intent, jobs Jobs) (ResolveResult, error) {
	if r.Event != nil {
		return ResolveResult{}, fmt.Errorf("resolve delivery row %d: %w", deliveryRowID, errDeferredAgain)
	}
	var out ResolveResult
	err := db.inTx(ctx, "resolve delivery", func(ctx context.Context, tx bun.Tx) error {
		out = ResolveResult{}
		r := r // recordPending may change it; a retried transaction starts afresh
		now := db.utcNow()
		var d Delivery
		q := tx.NewSelect().Model(&d).Column("id", "outcome", "run_id").Where("id = ?", deliveryRowID)
		if db.Dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return notFound(err, fmt.Sprintf("delivery row %d", deliveryRowID))
		}
		if d.Outcome != OutcomeDeferred {
			out.Already = true
			if d.RunID != nil {
				out.RunID = *d.RunID
			}
			return nil
		}
		if err := recordPending(ctx, tx, now, &r); err != nil {
			return err
		}
		if r.Approve != nil {
			a := *r.Approve
			a.ID, a.ApprovedAt = 0, now
			if _, err := tx.NewInsert().Model(&a).On("CONFLICT (repo, number, head_sha) DO NOTHING").Exec(ctx); err != nil {
				return fmt.Errorf("record approval: %w", err)
			}
		}
		if r.Run != nil {
			g := &runGroup{run: *r.Run, items: []int{0}, supersede: r.Supersede, bornSuperseded: -1}
			if err := startRuns(ctx, tx, now, []*runGroup{g}, jobs); err != nil {
				return err
			}
			out.RunID, out.Coalesced, out.Cancelled = g.run.ID, g.coalesced, g.cancelled
			if len(r.Logs) > 0 && !g.coalesced {
				lines := make([]RunLog, len(r.Logs))
				for i, m := range r.Logs {
					lines[i] = RunLog{RunID: g.run.ID, Step: run.Pending, Level: run.LogInfo, Message: m, At: now}
				}
				if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
					return fmt.Errorf("record the run's first log lines: %w", err)
				}
			}
		}
		if r.Cancel != nil {
			ids, err := cancelRuns(ctx, tx, now, jobs, *r.Cancel, nil)
			if err != nil {
				return err
			}
			out.Cancelled = append(out.Cancelled, ids...)
		}
		up := tx.NewUpdate().Model((*Delivery)(nil)).Set("outcome = ?", r.Outcome).Set("reason = ?", r.Reason).
			Where("id = ?", deliveryRowID)
		if out.RunID != 0 {
			up = up.Set("run_id = ?", out.RunID)
		}
		if _, err := up.Exec(ctx); err != nil {
			return fmt.Errorf("record resolution: %w", err)
		}
		return nil
	})
	if err != nil {
		return ResolveResult{}, err
	}
	return out, nil
}

// Approval is a maintainer's "/build approve" of one pull request head
// commit: a newer commit needs a new approval.
type Approval struct {
	bun.BaseModel `bun:"table:approvals,alias:ap"`

	ID         int64     `bun:"id,pk,autoincrement"`
	Repo       string    `bun:"repo,notnull"`
	Number     int       `bun:"number,notnull"`
	HeadSHA    string    `bun:"head_sha,notnull"`
	ApprovedBy string    `bun:"approved_by,notnull"`
	ApprovedAt time.Time `bun:"approved_at,notnull"`
}

// Approved reports whether the head commit sha of pull request number in
// repo was approved, and by whom.
func (db *DB) Approved(ctx context.Context, repo string, number int, sha string) (string, bool, error) {
	var a Approval
	err := db.withRetry(ctx, "get approval", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&a).Where("repo = ? AND number = ? AND head_sha = ?", repo, number, sha).Limit(1).Scan(ctx)
	})
	if err != nil {
		if err = notFound(err, "approval"); errors.Is(err, ErrNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	return a.ApprovedBy, true, nil
}

// LatestRunOf returns the newest run of issue or pull request number in
// repo (for "/build retry").
func (db *DB) LatestRunOf(ctx context.Context, repo string, number int) (*Run, error) {
	var r Run
	err := db.withRetry(ctx, "latest run of number", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&r).Where("repo = ? AND number = ?", repo, number).OrderExpr("id DESC").Limit(1).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("latest run of %s#%d", repo, number))
	}
	return &r, nil
}

// LatestRunAt returns the newest run of repo at commit sha (a re-requested
// check suite).
func (db *DB) LatestRunAt(ctx context.Context, repo, sha string) (*Run, error) {
	var r Run
	err := db.withRetry(ctx, "latest run at sha", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&r).Where("repo = ? AND head_sha = ?", repo, sha).OrderExpr("id DESC").Limit(1).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("latest run of %s@%s", repo, sha))
	}
	return &r, nil
}

// RecordedDeliveries returns which of the delivery ids (GitHub's GUIDs) of
// app are recorded: the missed-delivery job redelivers the others.
func (db *DB) RecordedDeliveries(ctx context.Context, appID int64, ids []string) (map[string]bool, error) {
	got := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return got, nil
	}
	var found []string
	err := db.withRetry(ctx, "recorded deliveries", func(ctx context.Context) error {
		found = nil
		return db.Bun.NewSelect().Model((*Delivery)(nil)).Column("delivery_id").
			Where("app_id = ? AND delivery_id IN (?)", appID, bun.List(ids)).Scan(ctx, &found)
	})
	if err != nil {
		return nil, err
	}
	for _, id := range found {
		got[id] = true
	}
	return got, nil
}
