package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/run"
)

// InFlightRun is a run not ended yet: its images and containers in the
// engine are in use (pipeline.RunKey names them by id and creation time).
type InFlightRun struct {
	ID        int64     `bun:"id"`
	CreatedAt time.Time `bun:"created_at"`
}

// InFlightRuns are the runs not ended (PENDING or IN_PROGRESS), at most
// limit of them, newest first.
func (db *DB) InFlightRuns(ctx context.Context, limit int) ([]InFlightRun, error) {
	var out []InFlightRun
	err := db.withRetry(ctx, "in-flight runs", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewRaw(`SELECT id, created_at FROM runs WHERE status IN (?, ?) ORDER BY id DESC LIMIT ?`,
			run.StatusPending, run.StatusInProgress, limit).Scan(ctx, &out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RunState is a run's id, creation time and status: enough to tell
// whether a run key (pipeline.RunKey) found in an engine is this
// database's and has ended.
type RunState struct {
	ID        int64      `bun:"id"`
	CreatedAt time.Time  `bun:"created_at"`
	Status    run.Status `bun:"status"`
}

// RunStates are the states of the runs of ids that exist (at most 1000
// ids a call).
func (db *DB) RunStates(ctx context.Context, ids []int64) ([]RunState, error) {
	if len(ids) > 1000 {
		return nil, fmt.Errorf("run states: %d ids, at most 1000 a call", len(ids))
	}
	var out []RunState
	if len(ids) == 0 {
		return out, nil
	}
	err := db.withRetry(ctx, "run states", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewRaw(`SELECT id, created_at, status FROM runs WHERE id IN (?)`, bun.List(ids)).Scan(ctx, &out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PrunableRelease is a release the bot published for a run, older than
// the newest keep of its group (ReleasesBeyond).
type PrunableRelease struct {
	RunID          int64  `bun:"id"`
	InstallationID int64  `bun:"installation_id"`
	ReleaseID      int64  `bun:"release_id"`
	Repo           string `bun:"repo"`
	Ref            string `bun:"ref"`
	HeadSHA        string `bun:"head_sha"`
}

// ReleasesBeyond lists the bot's releases (runs with a release not yet
// pruned) beyond the newest keep of their group, oldest first, at most
// limit. A suspended installation's are left (its token is refused) until
// it is unsuspended.
//
// Groups, per installation and repository: the builds of a spec the
// model generated (/build <description>, and their reruns) form one group
// per issue, whatever ref they were built at, so that experiments never
// push out a branch's releases; every other build (push, pull request,
// /build, rerun, schedule) groups by ref and spec path.
//
// Rank: a release is newer when its commit came to the bot later (the
// first run of the commit's SHA in the repository, by id), then by run:
// a retry or scheduled rebuild of an old commit is newer than that
// commit's other releases, never than a later commit's.
func (db *DB) ReleasesBeyond(ctx context.Context, keep, limit int) ([]PrunableRelease, error) {
	var out []PrunableRelease
	err := db.withRetry(ctx, "releases beyond the newest kept", func(ctx context.Context) error {
		out = nil
		return db.Bun.NewRaw(`
			SELECT id, installation_id, release_id, repo, ref, head_sha FROM (
				SELECT id, installation_id, release_id, repo, ref, head_sha,
				       ROW_NUMBER() OVER (
				           PARTITION BY installation_id, repo,
				                        CASE WHEN prompt <> '' THEN 'prompt' ELSE 'spec' END,
				                        CASE WHEN prompt <> '' THEN '' ELSE ref END,
				                        CASE WHEN prompt <> '' THEN '' ELSE spec_path END,
				                        CASE WHEN prompt <> '' THEN COALESCE(number, 0) ELSE 0 END
				           ORDER BY first_seen DESC, id DESC) AS newer
				FROM (
					SELECT r.*, (SELECT MIN(f.id) FROM runs f
					             WHERE f.repo = r.repo AND f.head_sha = r.head_sha
					               AND f.installation_id = r.installation_id) AS first_seen
					FROM runs r
					WHERE r.release_id IS NOT NULL AND r.release_pruned_at IS NULL AND r.installation_id IS NOT NULL
					  AND NOT EXISTS (SELECT 1 FROM installations i WHERE i.id = r.installation_id AND i.suspended)
				) released
			) ranked
			WHERE newer > ?
			ORDER BY id
			LIMIT ?`, keep, limit).Scan(ctx, &out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkReleasePruned records that run id's release is no longer the
// pruner's: deleted (or found gone), when its link goes from the run too,
// or left alone.
func (db *DB) MarkReleasePruned(ctx context.Context, id int64, deleted bool) error {
	return db.withRetry(ctx, "mark a release pruned", func(ctx context.Context) error {
		_, err := db.Bun.NewRaw(`UPDATE runs SET release_pruned_at = ?, release_url = CASE WHEN ? THEN '' ELSE release_url END, updated_at = ? WHERE id = ?`,
			db.utcNow(), deleted, db.utcNow(), id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("mark the release of run %d pruned: %w", id, err)
		}
		return nil
	})
}
