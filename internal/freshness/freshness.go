// Package freshness runs scheduled rebuilds (linux-build.yaml's
// schedule): for each repository's latest successful build of its default
// branch whose schedule has come due, it asks the distribution's archive
// whether its updates or security suites publish a newer version of any
// package the build installed (the run's packages.txt), and if so starts a
// fresh rebuild of the same commit that records the updates for its
// release notes. A check that finds nothing is recorded, so the build is
// not checked again before its next due time.
package freshness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/mirror"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Store is what the checker needs of the store.
type Store interface {
	ScheduleCandidates(ctx context.Context) ([]store.ScheduleCandidate, error)
	ClaimScheduleCheck(ctx context.Context, runID int64, prev *store.ScheduleCheck, at time.Time) (int64, error)
	EndScheduleCheck(ctx context.Context, runID, claim int64, prev *store.ScheduleCheck, note string, retry bool) error
	StartScheduledRebuild(ctx context.Context, runID, claim int64, again *store.Run, jobs store.Jobs, minGap time.Duration) (int64, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
}

// Mirror says which versions a distribution's updates publish
// (internal/mirror); names nil asks for every package.
type Mirror interface {
	Latest(ctx context.Context, base spec.Base, release, arch string, names map[string]bool) (map[string]string, error)
}

var _ Mirror = (*mirror.Client)(nil)

// RequestedBy is who scheduled rebuilds are recorded as asked for by.
const RequestedBy = "linux-builder[schedule]"

// DefaultMinInterval is the least time between two scheduled rebuilds of
// one repository, whatever its schedules say.
const DefaultMinInterval = time.Hour

// DefaultCheckTimeout bounds one build's check (its archive requests
// included), so one slow archive does not hold up the others.
const DefaultCheckTimeout = 2 * time.Minute

// maxManifest bounds the packages.txt read back from a run's artifacts.
const maxManifest = 32 << 20

// Artifacts reads an artifact's bytes from the artifact store
// (internal/artifacts.Store), on whichever worker checks.
type Artifacts interface {
	Get(ctx context.Context, key string) (io.ReadCloser, artifacts.Object, error)
}

// Checker checks the due schedules. Jobs queues the rebuilds it starts.
type Checker struct {
	Store  Store
	Mirror Mirror
	Jobs   store.Jobs
	// Artifacts is where runs' packages.txt are read from.
	Artifacts Artifacts
	// MinInterval is the least time between two scheduled rebuilds of a
	// repository (default DefaultMinInterval; never less than an hour).
	MinInterval time.Duration
	// CheckTimeout bounds each build's check (default
	// DefaultCheckTimeout).
	CheckTimeout time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// scheduled is what a run's resolved spec says about its schedule.
type scheduled struct {
	Schedule     spec.Schedule `json:"schedule"`
	Base         spec.Base     `json:"base"`
	Release      string        `json:"release"`
	Architecture string        `json:"architecture"`
}

// Due returns when a schedule next comes due after from (UTC).
func Due(s spec.Schedule, from time.Time) (time.Time, error) {
	_, expr, err := s.Times()
	if err != nil {
		return time.Time{}, err
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", s, err)
	}
	return sched.Next(from.UTC()), nil
}

// CheckSchedules checks every candidate whose schedule is due, the
// longest overdue first, each within CheckTimeout. Each suite index is
// fetched once per call and shared by the candidates that need it. A
// candidate that cannot be checked (its archive is unreachable) is logged
// and tried again at the next call; only a store failure is returned.
func (c *Checker) CheckSchedules(ctx context.Context) error {
	now := c.now()
	cands, err := c.Store.ScheduleCandidates(ctx)
	if err != nil {
		return err
	}
	type dueCand struct {
		cand *store.ScheduleCandidate
		sp   scheduled
		due  time.Time
	}
	var todo []dueCand
	for i := range cands {
		if sp, due, ok := c.due(&cands[i], now); ok {
			todo = append(todo, dueCand{&cands[i], sp, due})
		}
	}
	slices.SortStableFunc(todo, func(a, b dueCand) int { return a.due.Compare(b.due) })
	p := &pass{m: c.Mirror, got: map[suiteKey]*suiteAnswer{}}
	timeout := c.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	var errs []error
	for _, d := range todo {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.check(cctx, p, d.cand, d.sp, now)
		cancel()
		if err != nil && !errors.Is(err, store.ErrClaimLost) {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	return errors.Join(errs...)
}

// due reads cand's schedule and says whether it is due at now (no I/O),
// and since when.
func (c *Checker) due(cand *store.ScheduleCandidate, now time.Time) (scheduled, time.Time, bool) {
	var sp scheduled
	if err := json.Unmarshal([]byte(cand.Run.Spec), &sp); err != nil || sp.Schedule == "" {
		return sp, time.Time{}, false // no schedule (or no resolved spec): nothing to do
	}
	from := cand.FinishedAt()
	if cand.Check != nil {
		from = cand.Check.CheckedAt
	}
	due, err := Due(sp.Schedule, from)
	if err != nil {
		return sp, time.Time{}, false // validation refused bad schedules
	}
	// At most hourly, whatever the cron says: validation refuses more
	// frequent schedules, but a spec recorded before it did is still here.
	due = later(due, from.Add(time.Hour))
	if due.After(now) {
		return sp, time.Time{}, false // not due yet
	}
	if !cand.LastRebuild.IsZero() && now.Before(cand.LastRebuild.Add(c.minInterval())) {
		return sp, time.Time{}, false // the repository was rebuilt by a schedule too recently
	}
	return sp, due, true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// suiteKey names the indexes a check reads.
type suiteKey struct {
	base          spec.Base
	release, arch string
}

type suiteAnswer struct {
	latest map[string]string
	err    error
}

// pass shares the archive's answers among one CheckSchedules call's
// checks: a tenant's many builds of one release cost one fetch, and an
// unreachable archive one timeout, not one per build.
type pass struct {
	m   Mirror
	got map[suiteKey]*suiteAnswer
}

func (p *pass) latest(ctx context.Context, k suiteKey) (map[string]string, error) {
	if a, ok := p.got[k]; ok {
		return a.latest, a.err
	}
	latest, err := p.m.Latest(ctx, k.base, k.release, k.arch, nil)
	if ctx.Err() != nil {
		return nil, err // this check's time ran out: not the archive's answer
	}
	p.got[k] = &suiteAnswer{latest, err}
	return latest, err
}

func (c *Checker) minInterval() time.Duration {
	return max(c.MinInterval, DefaultMinInterval)
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Checker) log(ctx context.Context) *slog.Logger {
	if logging.Carried(ctx) || c.Logger == nil {
		return logging.From(ctx)
	}
	return c.Logger
}

// check checks one due candidate: claim → compare → record.
func (c *Checker) check(ctx context.Context, p *pass, cand *store.ScheduleCandidate, sp scheduled, now time.Time) error {
	r := &cand.Run
	log := c.log(ctx).With(logging.KeyRun, r.ID, "repo", r.Repo, "schedule", string(sp.Schedule))
	claim, err := c.Store.ClaimScheduleCheck(ctx, r.ID, cand.Check, now)
	if err != nil {
		return err
	}
	done := func(note string, retry bool) error {
		// Recorded even when this check's time ran out.
		return c.Store.EndScheduleCheck(context.WithoutCancel(ctx), r.ID, claim, cand.Check, note, retry)
	}
	if sp.Base != spec.BaseDebian && sp.Base != spec.BaseUbuntu {
		log.InfoContext(ctx, "schedule: not a Debian or Ubuntu build, nothing to compare")
		return done("only Debian and Ubuntu builds are compared with their archive", false)
	}
	installed, err := c.manifest(ctx, r.ID)
	if err != nil {
		log.InfoContext(ctx, "schedule: no package manifest", logging.KeyErr, err)
		return done("no package manifest: "+err.Error(), false)
	}
	latest, err := p.latest(ctx, suiteKey{sp.Base, sp.Release, sp.Architecture})
	if err != nil {
		if ctx.Err() != nil {
			// Out of time (CheckTimeout) or cancelled: tried again at the
			// next call (CheckSchedules reports a cancellation).
			log.WarnContext(ctx, "schedule: the check ran out of time; will try again", logging.KeyErr, err)
			return done("not checked: "+ctx.Err().Error(), true)
		}
		log.WarnContext(ctx, "schedule: cannot read the archive; will try again", logging.KeyErr, err)
		return done("archive unreadable: "+err.Error(), true)
	}
	updates := dpkg.Updates(installed, latest)
	if len(updates) == 0 {
		log.InfoContext(ctx, "schedule: no package updates", "next", nextDue(sp.Schedule, now))
		return done("no package updates", false)
	}
	if fresh := notTried(updates, r.PackageUpdates); len(fresh) == 0 {
		// This run is the rebuild for these very versions and still has
		// the old ones: rebuilding again would change nothing.
		log.WarnContext(ctx, "schedule: the last rebuild did not install the updates it was started for", "updates", len(updates))
		return done("the rebuild for these updates did not install them (does the build upgrade the base image's packages?)", false)
	}
	body, err := dpkg.RecordUpdates(updates)
	if err != nil {
		return errors.Join(err, done("rebuild not started: "+err.Error(), true))
	}
	again := r.Rerun(RequestedBy)
	again.Trigger, again.PackageUpdates = run.TriggerSchedule, body
	id, err := c.Store.StartScheduledRebuild(ctx, r.ID, claim, again, c.Jobs, c.minInterval())
	switch {
	case errors.Is(err, store.ErrTooSoon), errors.Is(err, store.ErrNotScheduled):
		// Another spec path of the repository was rebuilt meanwhile, or
		// the installation went away: not a failure; checked again later.
		log.InfoContext(ctx, "schedule: rebuild not started", logging.KeyErr, err)
		return done("rebuild not started: "+err.Error(), true)
	case err != nil:
		return errors.Join(err, done("rebuild not started: "+err.Error(), true))
	}
	log.InfoContext(ctx, "schedule: package updates, rebuilding", "updates", len(updates), "rebuild", id)
	return nil
}

// notTried drops the updates a scheduled rebuild (whose recorded updates
// are tried, dpkg.RecordUpdates) was already started for. Of a record cut
// at dpkg.MaxRecorded, only the updates it kept count as tried.
func notTried(updates []dpkg.Update, tried string) []dpkg.Update {
	if tried == "" {
		return updates
	}
	before, _, err := dpkg.ReadUpdates(tried)
	if err != nil {
		return updates
	}
	seen := map[dpkg.Update]bool{}
	for _, u := range before {
		seen[dpkg.Update{Name: u.Name, New: u.New}] = true
	}
	var out []dpkg.Update
	for _, u := range updates {
		if !seen[dpkg.Update{Name: u.Name, New: u.New}] {
			out = append(out, u)
		}
	}
	return out
}

func nextDue(s spec.Schedule, now time.Time) string {
	t, err := Due(s, now)
	if err != nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// manifest reads run id's packages.txt.
func (c *Checker) manifest(ctx context.Context, id int64) ([]dpkg.Package, error) {
	arts, err := c.Store.Artifacts(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		if a.Type != run.ArtifactManifest {
			continue
		}
		f, err := c.openManifest(ctx, a)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ps, err := dpkg.ReadManifest(io.LimitReader(f, maxManifest))
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, errors.New("the manifest lists no package")
		}
		return ps, nil
	}
	return nil, errors.New("the run has no " + dpkg.ManifestName)
}

// openManifest opens a run's packages.txt: its object in the artifact
// store, or, for a row recorded before the store, its file on this
// machine.
func (c *Checker) openManifest(ctx context.Context, a store.Artifact) (io.ReadCloser, error) {
	if a.Key != "" {
		if c.Artifacts == nil {
			return nil, fmt.Errorf("no artifact store to read %s from", a.Key)
		}
		r, _, err := c.Artifacts.Get(ctx, a.Key)
		return r, err
	}
	if !filepath.IsAbs(a.Location) || filepath.Base(a.Location) != dpkg.ManifestName {
		return nil, fmt.Errorf("manifest location %q is not an absolute path to %s", a.Location, dpkg.ManifestName)
	}
	return os.Open(a.Location)
}
