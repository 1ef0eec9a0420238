package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// The shared system image's labels: what it was built from, and when.
const (
	LabelSystemBaseID    = "io.linux-builder.system.base-id"
	LabelSystemIndexDate = "io.linux-builder.system.index-date"
	LabelSystemBuilt     = "io.linux-builder.system.built"
)

// systemLogPrefix introduces the system image's build lines in the run's
// log, apart from the spec's own build.
const systemLogPrefix = "system image | "

// indexTimeout bounds one question to the index prober: a slow mirror
// makes a key without the date, not a slow run.
const indexTimeout = 15 * time.Second

// indexCache keeps the prober's answers for a while: every run of a spec
// asks, and an unchanged spec must stay a cache hit in no time.
type indexCache struct {
	prober IndexProber
	ttl    time.Duration
	now    func() time.Time
	mu     sync.Mutex
	byKey  map[string]indexAnswer
}

type indexAnswer struct {
	date time.Time
	err  error
	at   time.Time
}

// date asks the prober, or answers from what it said less than ttl ago
// (a failure is kept a tenth of that, so a mirror back up is seen soon).
func (c *indexCache) date(ctx context.Context, base spec.Base, release string) (time.Time, error) {
	key := string(base) + "/" + release
	c.mu.Lock()
	a, ok := c.byKey[key]
	c.mu.Unlock()
	ttl := c.ttl
	if ok && a.err != nil {
		ttl /= 10
	}
	if ok && c.now().Sub(a.at) < ttl {
		return a.date, a.err
	}
	pctx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	date, err := c.prober.IndexDate(pctx, base, release)
	if err == nil && date.IsZero() {
		err = errors.New("no date")
	}
	if ctx.Err() != nil {
		return time.Time{}, err // the run's own cancellation says nothing of the mirror
	}
	c.mu.Lock()
	if c.byKey == nil {
		c.byKey = map[string]indexAnswer{}
	}
	c.byKey[key] = indexAnswer{date: date, err: err, at: c.now()}
	c.mu.Unlock()
	return date, err
}

// probeIndex is the date of the spec's package indexes, when the pipeline
// has a prober and it answers. A distribution the prober does not know
// (errors.ErrUnsupported) goes without a date silently; another failure
// is a warning in the run's log,
// never a failed build: the key goes without the date and the system
// image is reused as it is.
func (r *execution) probeIndex(ctx context.Context, s *spec.Spec) (time.Time, bool) {
	if r.p.cfg.Index == nil || s == nil {
		return time.Time{}, false
	}
	date, err := r.p.index.date(ctx, s.Base, string(s.Release))
	if errors.Is(err, errors.ErrUnsupported) {
		// The prober cannot date this distribution's indexes (not an
		// archive it knows): nothing to warn about.
		return time.Time{}, false
	}
	if err != nil {
		r.logs.Add(ctx, run.LogWarn, fmt.Sprintf("the date of %s %s's package indexes is unknown (%v): the cache key goes without it and the system image is reused as it is", s.Base, s.Release, err))
		return time.Time{}, false
	}
	return date.UTC(), true
}

// ensureSystem makes sure the shared system image the context starts FROM
// exists and is fresh: built from the current base image and from package
// indexes no older than the current ones. Otherwise it builds it, once for
// all the runs of this process that need it at the same time. A fresh run
// (NoCache) builds it anew.
func (r *execution) ensureSystem(ctx context.Context, bctx BuildContext) error {
	si, ok := bctx.(SystemImager)
	if !ok {
		return nil
	}
	tag, sctx := si.System()
	if tag == "" || sctx == nil {
		return nil
	}
	if !r.rec.NoCache {
		if fresh, msg := r.systemFreshness(ctx, tag); fresh {
			r.logs.Add(ctx, run.LogInfo, msg)
			return nil
		}
	}
	key := tag
	if r.rec.NoCache {
		// A fresh build joins no other run's build, and no fresh run
		// joins a cached one.
		key += "+fresh"
	}
	b, leader := r.p.systems.join(ctx, key, r, func(bctx context.Context, log func(string)) error {
		return r.buildSystem(bctx, tag, sctx, log)
	})
	defer r.p.systems.leave(key, b, r)
	if !leader {
		r.logs.Add(ctx, run.LogInfo, "another run is building the shared system image "+tag+"; waiting for it")
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.err == nil && !leader {
		r.logs.Add(ctx, run.LogInfo, "another run built the shared system image "+tag+"; using it")
	}
	return b.err
}

// systemBuilds runs each shared system image build once for all the runs
// of this process that need it at the same time. The build belongs to
// none of them: it runs on a context of its own (bounded by the deadline
// of the run that started it), so one run's cancellation (a superseding
// push, a user's cancel) does not fail the others waiting for it; it is
// cancelled only when no run waits for it any more. Its log lines go to
// every run waiting.
type systemBuilds struct {
	mu     sync.Mutex
	builds map[string]*systemBuild
}

// systemBuild is one build of a system image, and the runs waiting for it.
type systemBuild struct {
	done    chan struct{}
	err     error // set before done is closed
	cancel  context.CancelFunc
	waiters map[*execution]context.Context // guarded by systemBuilds.mu
}

// join adds r to the build of key, starting it with build when there is
// none; leader says r started it.
func (s *systemBuilds) join(ctx context.Context, key string, r *execution, build func(context.Context, func(string)) error) (b *systemBuild, leader bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.builds[key]; ok {
		b.waiters[r] = ctx
		return b, false
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		bctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	b = &systemBuild{done: make(chan struct{}), cancel: cancel, waiters: map[*execution]context.Context{r: ctx}}
	if s.builds == nil {
		s.builds = map[string]*systemBuild{}
	}
	s.builds[key] = b
	go func() {
		defer cancel()
		err := build(bctx, func(line string) { s.broadcast(b, line) })
		s.mu.Lock()
		b.err = err
		if s.builds[key] == b {
			delete(s.builds, key)
		}
		s.mu.Unlock()
		close(b.done)
	}()
	return b, true
}

// leave takes r off b's waiters; the build stops when none is left.
func (s *systemBuilds) leave(key string, b *systemBuild, r *execution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(b.waiters, r)
	if len(b.waiters) == 0 {
		b.cancel()
		if s.builds[key] == b {
			// A run that comes now starts a build of its own rather than
			// joining one that is stopping.
			delete(s.builds, key)
		}
	}
}

// broadcast adds a line of the build to the log of every run waiting.
func (s *systemBuilds) broadcast(b *systemBuild, line string) {
	s.mu.Lock()
	waiters := make(map[*execution]context.Context, len(b.waiters))
	for r, ctx := range b.waiters {
		waiters[r] = ctx
	}
	s.mu.Unlock()
	for r, ctx := range waiters {
		r.logs.Add(context.WithoutCancel(ctx), run.LogInfo, line)
	}
}

// systemFreshness tells whether the system image tag can be reused, with
// the log line that says so, or why it must be built.
func (r *execution) systemFreshness(ctx context.Context, tag string) (fresh bool, msg string) {
	insp, ok := r.p.cfg.Builder.(ImageInspector)
	if !ok {
		return false, "the engine cannot tell what it was built from"
	}
	info, found, err := insp.InspectImage(ctx, tag)
	switch {
	case err != nil:
		return false, "inspecting it failed: " + err.Error()
	case !found:
		return false, "first use"
	}
	l := info.Labels
	if r.baseID != "" && l[LabelSystemBaseID] != r.baseID {
		return false, fmt.Sprintf("the base image changed: it is %s, the system image was built from %s", short(r.baseID), short(l[LabelSystemBaseID]))
	}
	built, _ := time.Parse(time.RFC3339, l[LabelSystemBuilt])
	if !r.indexDate.IsZero() {
		// Indexes fetched at build time are at least as new as those the
		// mirror served before it: an image without an index label is
		// judged by when it was built.
		have, err := time.Parse(time.RFC3339, l[LabelSystemIndexDate])
		if err != nil {
			have = built
		}
		if have.After(r.p.cfg.Now().Add(24 * time.Hour)) {
			// No archive dates its indexes ahead: a label in the future
			// would keep the image "fresh" for ever.
			return false, fmt.Sprintf("the image's package index date %s is in the future", stamp(have))
		}
		if have.Before(r.indexDate) {
			return false, fmt.Sprintf("the distribution published package indexes of %s, newer than the image's (%s)",
				r.indexDate.Format(time.RFC3339), stamp(have))
		}
	}
	msg = fmt.Sprintf("reusing the shared system image %s (%s) built %s", tag, short(info.ID), stamp(built))
	if d := l[LabelSystemIndexDate]; d != "" {
		msg += ", package indexes of " + d
	}
	return true, msg
}

// buildSystem builds the system image tag from its context, labelled with
// what it was built from; its lines, set apart by a prefix, go to log.
// When the date of the package indexes is known the build uses no cached
// layer: a layer cached from older indexes has the same parent and the
// same command, and would carry the old packages under the new label.
func (r *execution) buildSystem(ctx context.Context, tag string, sctx BuildContext, log func(string)) error {
	why := "a fresh build was asked for"
	if !r.rec.NoCache {
		// A run that came late may find it built in the meantime.
		fresh, msg := r.systemFreshness(ctx, tag)
		if fresh {
			log(msg)
			return nil
		}
		why = msg
	}
	noCache := r.rec.NoCache || !r.indexDate.IsZero()
	log(fmt.Sprintf("building the shared system image %s (%s); specs with the same system will reuse it", tag, why))
	labels := map[string]string{LabelSystemBuilt: r.p.cfg.Now().UTC().Format(time.RFC3339)}
	if r.baseID != "" {
		labels[LabelSystemBaseID] = r.baseID
	}
	if !r.indexDate.IsZero() {
		labels[LabelSystemIndexDate] = r.indexDate.Format(time.RFC3339)
	}
	start := time.Now()
	id, err := r.p.cfg.Builder.Build(ctx, BuildRequest{Context: sctx, Tag: tag, Labels: labels, NoCache: noCache}, func(line string) {
		log(systemLogPrefix + line)
	})
	if err != nil {
		return err
	}
	log(fmt.Sprintf("built the shared system image %s (%s) in %.1f s", tag, short(id), time.Since(start).Seconds()))
	return nil
}

// short is an image ID without its algorithm, cut to 12 characters.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if id == "" {
		return "unknown"
	}
	return id
}

// stamp is a time for the log, or "at an unknown time".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}
