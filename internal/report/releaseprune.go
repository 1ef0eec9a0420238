package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// ReleasePruneStore is what ReleasePruner needs of the store
// (internal/store.DB).
type ReleasePruneStore interface {
	ReleasesBeyond(ctx context.Context, keep, limit int) ([]store.PrunableRelease, error)
	MarkReleasePruned(ctx context.Context, id int64, deleted bool) error
}

// ReleasePruneGitHub is what ReleasePruner needs of GitHub
// (internal/github.App).
type ReleasePruneGitHub interface {
	Release(ctx context.Context, installationID int64, repo string, id int64) (*gh.RepositoryRelease, error)
	DeleteRelease(ctx context.Context, installationID int64, repo string, id int64) error
}

// ReleasePruner deletes the bot's older releases (RELEASE_KEEP): per
// group (installation, repository, branch and spec path; a generated
// spec's builds per issue: store.ReleasesBeyond), the releases of runs
// beyond the newest Keep. Only releases the store records as the bot's (a run's
// release) are candidates, and one is deleted only if GitHub still shows
// it with the run's tag (Tag): a release a person made, or re-tagged, is
// never touched. Each pass handles at most Batch releases; a failure is
// logged and the release tried again on a pass releaseRetryAfter later,
// so that releases failing for good do not hold up the others.
type ReleasePruner struct {
	GitHub ReleasePruneGitHub
	Store  ReleasePruneStore
	// Keep is how many releases of each branch stay (> 0).
	Keep int
	// Batch bounds the releases one pass handles; default 50.
	Batch  int
	Logger *slog.Logger
	// Now is the clock of the back-off; default time.Now.
	Now func() time.Time

	mu sync.Mutex
	// deferred are releases that failed, by run, with when to try them
	// again: a release that keeps failing (its installation removed)
	// must not take a batch's place on every pass.
	deferred map[int64]time.Time
}

// releaseRetryAfter is how long a release that failed waits before the
// pruner tries it again; maxDeferred bounds the releases it remembers.
const (
	releaseRetryAfter = 6 * time.Hour
	maxDeferred       = 1000
)

// ReleasePruneResult is what one pass deleted (or, in a dry run, would).
type ReleasePruneResult struct {
	Releases int
	// Bytes are the deleted releases' assets.
	Bytes int64
	// Gone are releases already deleted on GitHub; Skipped ones no longer
	// carry the bot's tag (left alone); Failed ones are tried again.
	Gone, Skipped, Failed int
}

// Prune runs one pass.
func (p *ReleasePruner) Prune(ctx context.Context, dryRun bool) (ReleasePruneResult, error) {
	var res ReleasePruneResult
	if p.Keep <= 0 {
		return res, errors.New("release pruning needs a positive Keep")
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 50
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	p.mu.Lock()
	if p.deferred == nil {
		p.deferred = map[int64]time.Time{}
	}
	waiting := 0
	for id, at := range p.deferred {
		if !now().Before(at) {
			delete(p.deferred, id)
		} else {
			waiting++
		}
	}
	p.mu.Unlock()
	list, err := p.Store.ReleasesBeyond(ctx, p.Keep, batch+waiting)
	if err != nil {
		return res, err
	}
	var errs []error
	handled := 0
	for _, c := range list {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		p.mu.Lock()
		_, later := p.deferred[c.RunID]
		p.mu.Unlock()
		if later || handled >= batch {
			continue
		}
		handled++
		rel, err := p.GitHub.Release(ctx, c.InstallationID, c.Repo, c.ReleaseID)
		if err != nil {
			res.Failed++
			p.deferRun(c.RunID, now())
			log.WarnContext(ctx, "release pruning: cannot read the release; trying again later", logging.KeyRun, c.RunID,
				"repo", c.Repo, "release", c.ReleaseID, logging.KeyErr, err)
			errs = append(errs, fmt.Errorf("run %d: %w", c.RunID, err))
			continue
		}
		want := fmt.Sprintf("linux-build/%s-%d", run.ShortSHA(c.HeadSHA), c.RunID)
		deleted := true
		switch {
		case rel == nil:
			res.Gone++
		case rel.GetTagName() != want:
			res.Skipped++
			deleted = false
			log.WarnContext(ctx, "release pruning: the release no longer has the bot's tag; leaving it", logging.KeyRun, c.RunID,
				"repo", c.Repo, "release", c.ReleaseID, "tag", rel.GetTagName(), "want", want)
		default:
			var size int64
			for _, a := range rel.Assets {
				size += int64(a.GetSize())
			}
			if !dryRun {
				if err := p.GitHub.DeleteRelease(ctx, c.InstallationID, c.Repo, c.ReleaseID); err != nil {
					res.Failed++
					p.deferRun(c.RunID, now())
					log.WarnContext(ctx, "release pruning: cannot delete the release; trying again later", logging.KeyRun, c.RunID,
						"repo", c.Repo, "release", c.ReleaseID, logging.KeyErr, err)
					errs = append(errs, fmt.Errorf("run %d: %w", c.RunID, err))
					continue
				}
				log.InfoContext(ctx, "release pruning: deleted an older release", logging.KeyRun, c.RunID, "repo", c.Repo,
					"ref", c.Ref, "tag", want, "bytes", size)
			}
			res.Releases++
			res.Bytes += size
		}
		if dryRun {
			continue
		}
		if err := p.Store.MarkReleasePruned(ctx, c.RunID, deleted); err != nil {
			return res, errors.Join(append(errs, err)...)
		}
	}
	return res, errors.Join(errs...)
}

// deferRun puts off run id's release for releaseRetryAfter, unless the
// pruner already remembers maxDeferred releases (then it comes back on
// the next pass, as before).
func (p *ReleasePruner) deferRun(id int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.deferred) < maxDeferred {
		p.deferred[id] = now.Add(releaseRetryAfter)
	}
}
