package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// Config configures a Pipeline.
type Config struct {
	Store    Store
	Renderer Renderer
	Builder  ImageBuilder
	ISO      ISOBuilder // nil: no ISO (and no boot test)
	// Disk makes the disk images of specs whose outputs ask for qcow2 or
	// raw; nil: none (such a run is partial).
	Disk DiskBuilder
	Boot BootTester // nil: no boot test
	// Fetcher fetches specs of runs that arrive without one (GitHub runs).
	Fetcher SpecFetcher
	// Pusher and PushRepo, when both set, push each built image to
	// PushRepo:run-<id>; a failed push falls back to the saved tar.
	Pusher    Pusher
	PushRepo  string
	Reporters []Reporter
	// ArtifactsDir holds <run id>/, each run's work directory: its files
	// while they are made and, without Artifacts, its artifacts.
	ArtifactsDir string
	// Artifacts, when set, is where artifacts live: each file is uploaded
	// once it is made and recorded by its key; the run's work directory is
	// removed when the run ends (the ISO stays until then, for the boot
	// test). Without it the files stay in ArtifactsDir and are recorded by
	// path (one machine; tests).
	Artifacts ArtifactStore
	// ImageRepo is the repository of built image tags: <repo>:<run id>.
	ImageRepo string
	// Firmwares to boot-test the ISO with; default BIOS, UEFI and
	// UEFISecureBoot (for specs with the signed chain only: secureboot.go).
	// A disk image boots with the firmwares of its spec's
	// customization.firmware, and with UEFISecureBoot when it is listed
	// here and the disk boots with Secure Boot.
	Firmwares []Firmware
	// MaxBoots bounds the boots of a run running at once (the ISO's and
	// the disk's together; the others wait); default the host's CPUs, at
	// least 2.
	MaxBoots    int
	BootTimeout time.Duration // per boot; default 300s
	// Limits bound what one run may consume (zero fields take defaults).
	Limits Limits
	// KeepImage keeps the built image in the engine after export (for
	// local use); otherwise it is removed once saved.
	KeepImage bool
	// Logger is the logger of runs whose context carries none
	// (logging.From); default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the run's log lines; default time.Now.
	Now func() time.Time
	// Index, when set, tells the date of the distribution's package
	// indexes: it joins the cache key and decides whether the shared
	// system image is fresh. Its answers are kept for IndexTTL (default
	// 10 minutes), so an unchanged spec stays a cache hit in no time.
	Index    IndexProber
	IndexTTL time.Duration
	// EngineWait bounds how long a retried attempt waits for a lost
	// engine to answer again (a Builder that is an EngineWaiter) before
	// it gives up as lost too; default 2 minutes.
	EngineWait time.Duration
	// Observer, when set, is told of steps, cache lookups and runs ended
	// (metrics).
	Observer Observer
}

// Pipeline runs builds.
type Pipeline struct {
	cfg Config
	log *slog.Logger
	// systems builds each missing system image once for the runs that
	// need it at the same time.
	systems systemBuilds
	index   indexCache
}

// New makes a pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Store == nil || cfg.Renderer == nil || cfg.Builder == nil {
		return nil, errors.New("pipeline: Store, Renderer and Builder are required")
	}
	if cfg.ArtifactsDir == "" {
		return nil, errors.New("pipeline: ArtifactsDir is required")
	}
	// Artifact locations are recorded absolute: the release job (another
	// process, another working directory) refuses relative ones.
	abs, err := filepath.Abs(cfg.ArtifactsDir)
	if err != nil {
		return nil, fmt.Errorf("pipeline: ArtifactsDir: %w", err)
	}
	cfg.ArtifactsDir = abs
	if cfg.ImageRepo == "" {
		cfg.ImageRepo = "linux-builder"
	}
	if len(cfg.Firmwares) == 0 {
		cfg.Firmwares = []Firmware{BIOS, UEFI, UEFISecureBoot}
	}
	if cfg.MaxBoots <= 0 {
		cfg.MaxBoots = max(runtime.NumCPU(), 2)
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 300 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IndexTTL == 0 {
		cfg.IndexTTL = 10 * time.Minute
	}
	if cfg.EngineWait <= 0 {
		cfg.EngineWait = 2 * time.Minute
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{cfg: cfg, log: log, index: indexCache{prober: cfg.Index, ttl: cfg.IndexTTL, now: cfg.Now}}, nil
}

// cacheKey is the build context hash qualified by the outputs this
// pipeline produces for a spec asking for outputs: a run that asked for
// the ISO alone never satisfies one that asks for a disk image too (the
// resolved spec, and so the context hash, differ as well). A run that
// asked for no boot test (noBootTest) is keyed apart: its ISO and disk
// images have no boot-test marker, so its artifacts never answer a
// boot-tested run, nor a boot-tested run's answer it.
func (p *Pipeline) cacheKey(contextHash string, outputs []spec.Output, noBootTest bool) string {
	key := contextHash
	boot := p.cfg.Boot != nil && !noBootTest
	disk := false
	if !slices.Equal(outputs, []spec.Output{spec.OutputISO}) && len(outputs) > 0 {
		names := make([]string, len(outputs))
		for i, o := range outputs {
			names[i] = string(o)
			disk = disk || o != spec.OutputISO
		}
		key += "+outputs:" + strings.Join(names, ",")
	}
	if disk && p.cfg.Disk != nil {
		key += "+disk"
		if boot {
			key += "+disk-boot"
		}
	}
	if p.cfg.ISO != nil {
		key += "+iso"
		if boot {
			for _, fw := range p.cfg.Firmwares {
				key += "+" + string(fw)
			}
		}
	}
	if noBootTest {
		key += "+no-boot-test"
	}
	if p.cfg.PushRepo != "" {
		key += "+push:" + p.cfg.PushRepo
	}
	return key
}

// run is one execution of the pipeline for one run.
type execution struct {
	p        *Pipeline
	rec      *RunRecord
	state    run.State
	logs     *logBuffer
	warnings []string
	arts     []Artifact
	dir      string
	image    string
	// baseID is the ID of the distribution's base image, indexDate the
	// date of its package indexes (zero when unknown): generate learns
	// them, the system image is checked against them.
	baseID    string
	indexDate time.Time
	// flat is set when image.tar.zst is to be written from the ISO step's
	// export (build decides, makeISO writes it).
	flat *flatPlan
	// spec is the run's validated spec (nil before VALIDATING): its
	// outputs decide the ISO and disk steps.
	spec *spec.Spec
	// partialSoFar is what mark recorded (the reasons joined).
	partialSoFar Partial
	// markerNonce is the random part of this attempt's boot-test marker
	// (crypto/rand.Text: 26 base32 characters, 128 bits).
	markerNonce string
	// installISO is the live ISO the disk image is installed from
	// (spec.DiskByInstall), once made: the published one or a scratch one.
	installISO string
}

// errStep is a step failure with a reason for the user; the run fails but
// the job succeeds (River must not retry a broken spec).
type errStep struct {
	reason string
	err    error
}

func (e *errStep) Error() string { return e.reason }
func (e *errStep) Unwrap() error { return e.err }

func stepFailed(reason string, err error) error { return &errStep{reason: reason, err: err} }

// errRetry is an infrastructure failure: the run is left as it is and the
// error is returned, so the queue retries the job (and, after the last
// attempt, the reaper ends the run).
type errRetry struct{ err error }

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// Run runs the build of run id to its end: it is queue.Runner. A run that
// already ended is left alone (a redelivered job). It returns an error only
// for infrastructure failures worth a retry (the store is unreachable); a
// build that fails records FAILED and returns nil.
func (p *Pipeline) Run(ctx context.Context, id int64) error {
	// The caller's context may carry a logger (a queue job's); the run's
	// id joins it once, here.
	if !logging.Carried(ctx) {
		ctx = logging.WithLogger(ctx, p.log)
	}
	ctx = logging.With(ctx, logging.KeyRun, id)
	rec, err := p.cfg.Store.LoadRun(ctx, id)
	if err != nil {
		return fmt.Errorf("load run %d: %w", id, err)
	}
	if rec.State.Terminal() {
		logging.From(ctx).InfoContext(ctx, "run already ended", "state", rec.State)
		return nil
	}
	r := &execution{p: p, rec: rec, state: run.Pending, dir: filepath.Join(p.cfg.ArtifactsDir, fmt.Sprint(id)), markerNonce: rand.Text()}
	r.logs = newLogBuffer(p.cfg.Store, p.cfg.Reporters, id, logging.From(ctx), p.cfg.Now, p.cfg.Limits)
	defer r.logs.Close()
	if err := r.startOver(ctx); err != nil {
		if errors.Is(err, ErrEngineLost) && ctx.Err() == nil {
			return r.engineLost(ctx, err)
		}
		return err
	}
	return r.execute(ctx)
}

func (r *execution) execute(ctx context.Context) error {
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return fmt.Errorf("artifacts directory: %w", err)
	}
	var doc *spec.Document
	var diags spec.Diagnostics
	var bctx BuildContext
	var isoPath string
	var disk *diskBoot
	for {
		var ev Event
		var err error
		sctx, cancel := r.stepContext(ctx)
		started := time.Now()
		switch r.state {
		case run.Pending:
			ev = Next
		case run.Validating:
			doc, diags, err = r.validate(sctx)
			if doc != nil {
				r.spec = doc.Spec
			}
			ev = Next
		case run.Generating:
			bctx, ev, err = r.generate(sctx, doc, diags)
		case run.Building:
			err = r.build(sctx, bctx)
			ev = Next
		case run.ISOGenerating:
			isoPath, ev, err = r.makeISO(sctx)
		case run.DiskGenerating:
			disk, err = r.makeDisk(sctx)
			ev = Next
		case run.BootTesting:
			ev, err = r.bootTest(sctx, isoPath, disk)
		}
		err = r.stepTimedOut(ctx, sctx, err)
		cancel()
		if r.state != run.Pending {
			r.p.cfg.Observer.StepFinished(r.state, stepOutcome(ctx, err), time.Since(started))
		}
		if errors.Is(err, ErrEngineLost) && ctx.Err() == nil {
			return r.engineLost(ctx, err)
		}
		var retry *errRetry
		if errors.As(err, &retry) && ctx.Err() == nil {
			r.logs.Add(ctx, run.LogWarn, retry.Error()+"; the job will be retried")
			return err
		}
		if err != nil {
			return r.end(ctx, err)
		}
		if ctx.Err() != nil {
			return r.end(ctx, ctx.Err())
		}
		next, terr := Transition(r.state, ev)
		if terr == nil {
			next, terr = r.skipUnwanted(ctx, next)
		}
		if terr != nil {
			return r.end(ctx, terr)
		}
		if next == run.Complete {
			// The run's own files, written last: its log is complete.
			err := r.writeRunFiles(ctx)
			if errors.As(err, &retry) && ctx.Err() == nil {
				r.logs.Add(ctx, run.LogWarn, retry.Error()+"; the job will be retried")
				return err
			}
			return r.end(ctx, err)
		}
		if err := r.enter(ctx, next); err != nil {
			return err
		}
	}
}

// enter persists a transition, then announces it.
func (r *execution) enter(ctx context.Context, next run.State) error {
	r.logs.flush(ctx) // the tail past a full head is settled at the attempt's end
	if err := r.p.cfg.Store.EnterStep(ctx, r.rec.ID, next); err != nil {
		return fmt.Errorf("record step %s: %w", next, err)
	}
	from := r.state
	r.state = next
	r.logs.setStep(next)
	for _, rep := range r.p.cfg.Reporters {
		rep.Transition(ctx, r.rec.ID, from, next, "")
	}
	return nil
}

// end finishes the run: COMPLETE on nil, CANCELLED when ctx was cancelled,
// FAILED otherwise, and cleans up. Only store failures are returned. An
// attempt interrupted by its worker's stop (ctx's cause is
// run.ErrInterrupted) does not end the run: see interrupt.
func (r *execution) end(ctx context.Context, cause error) error {
	final, reason := run.Complete, ""
	var se *errStep
	switch {
	case errors.Is(cause, run.ErrSuperseded):
		// Another worker runs the run now: this attempt writes and
		// removes nothing (the image may be the new attempt's too).
		return cause
	case errors.Is(context.Cause(ctx), run.ErrInterrupted):
		return r.interrupt(ctx)
	case cause == nil:
		if len(r.warnings) > 0 {
			reason = strings.Join(r.warnings, "; ")
		}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		final, reason = run.Failed, fmt.Sprintf("the build exceeded its time limit during %s", r.state)
	case ctx.Err() != nil || errors.Is(cause, context.Canceled):
		final, reason = run.Cancelled, "cancelled"
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			reason = "cancelled: " + c.Error()
		}
	case errors.As(cause, &se):
		final, reason = run.Failed, se.reason
	default:
		final, reason = run.Failed, cause.Error()
	}
	// The run's context may be cancelled: the final records must still be
	// written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if final != run.Complete {
		r.logs.Add(wctx, run.LogError, reason)
	}
	r.logs.Flush(wctx)
	// The run ends first, then its image and scratch files go: an attempt
	// superseded meanwhile (its end refused) removes nothing, since the
	// image may be the new attempt's too (same layers, same id).
	err := r.p.cfg.Store.Finish(wctx, r.rec.ID, final, reason)
	if errors.Is(err, run.ErrSuperseded) {
		return fmt.Errorf("finish run %d: %w", r.rec.ID, err)
	}
	r.cleanup(wctx, final)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.rec.ID, err)
	}
	r.p.cfg.Observer.RunEnded(run.StatusOf(final))
	from := r.state
	r.state = final
	for _, rep := range r.p.cfg.Reporters {
		rep.Transition(wctx, r.rec.ID, from, final, reason)
	}
	return nil
}

func (r *execution) cleanup(ctx context.Context, final run.State) {
	if r.image != "" && (final != run.Complete || !r.p.cfg.KeepImage) {
		if err := r.p.cfg.Builder.Remove(ctx, r.image); err != nil {
			logging.From(ctx).WarnContext(ctx, "remove image", "image", r.image, logging.KeyErr, err)
		}
	}
	_ = os.RemoveAll(filepath.Join(r.dir, "work"))
	if r.p.cfg.Artifacts != nil {
		// Every artifact is in the store: the directory was scratch.
		_ = os.RemoveAll(r.dir)
		return
	}
	if final == run.Cancelled || final == run.Failed {
		// Partial artifacts of a failed run are useless and may be huge.
		for _, name := range []string{"image.tar.zst", "linux.iso", qcow2Name, rawZstName} {
			_ = os.Remove(filepath.Join(r.dir, name))
		}
	}
}

func (r *execution) validate(ctx context.Context) (*spec.Document, spec.Diagnostics, error) {
	var fetched string
	if len(r.rec.SpecSrc) == 0 {
		if r.p.cfg.Fetcher == nil {
			return nil, nil, stepFailed("the run has no spec and no way to fetch one", errors.New("no spec"))
		}
		src, err := r.p.cfg.Fetcher.FetchSpec(ctx, r.rec)
		switch {
		case errors.Is(err, ErrSpecNotFound):
			return nil, nil, stepFailed(fmt.Sprintf("%s does not exist at %s", r.rec.SpecPath, r.rec.HeadSHA), err)
		case err != nil:
			// GitHub unreachable or failing: worth a retry of the job.
			return nil, nil, &errRetry{fmt.Errorf("fetch spec: %w", err)}
		}
		r.rec.SpecSrc, fetched = src, string(src)
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("fetched %s at %s (%d bytes)", r.rec.SpecPath, r.rec.HeadSHA, len(src)))
	}
	doc, diags := spec.Parse(r.rec.SpecPath, r.rec.SpecSrc)
	if r.rec.Distro != "" && doc.Spec != nil && !diags.HasErrors() {
		rebased, err := spec.Rebase(doc, r.rec.Distro)
		if err != nil {
			return nil, nil, stepFailed(err.Error(), err)
		}
		diags = rebased
	}
	for _, d := range diags {
		level := run.LogWarn
		if d.Severity == spec.SeverityError {
			level = run.LogError
		}
		r.logs.Add(ctx, level, d.String())
	}
	if len(diags) > 0 {
		if err := r.p.cfg.Store.RecordDiagnostics(ctx, r.rec.ID, diags); err != nil {
			return nil, nil, fmt.Errorf("record diagnostics: %w", err)
		}
	}
	if diags.HasErrors() {
		errs := diags.Errors()
		msg := fmt.Sprintf("the spec has %d error(s): %s", len(errs), errs[0].String())
		return nil, nil, stepFailed(msg, errors.New(msg))
	}
	s := doc.Spec
	resolved, err := json.Marshal(s)
	if err != nil {
		return nil, nil, fmt.Errorf("resolved spec: %w", err)
	}
	var warnings []string
	for _, w := range diags.Warnings() {
		warnings = append(warnings, w.String())
	}
	info := SpecInfo{
		Source: fetched,
		Base:   string(s.Base), KernelVersion: string(s.Kernel.Version), InitSystem: string(s.Init),
		Architecture: string(s.Architecture), SecurityLevel: string(s.SecurityFeatures.KernelHardening),
		ResolvedJSON: string(resolved), Warnings: warnings,
	}
	if err := r.p.cfg.Store.RecordSpec(ctx, r.rec.ID, info); err != nil {
		return nil, nil, fmt.Errorf("record spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "spec.json"), append(resolved, '\n'), 0o640); err != nil {
		return nil, nil, fmt.Errorf("write resolved spec: %w", err)
	}
	if err := r.addFileArtifact(ctx, "spec.json", run.ArtifactSpec); err != nil {
		return nil, nil, err
	}
	return doc, diags, nil
}

func (r *execution) generate(ctx context.Context, doc *spec.Document, diags spec.Diagnostics) (BuildContext, Event, error) {
	bctx, warns, err := r.p.cfg.Renderer.Render(doc, diags)
	if err != nil {
		return nil, "", stepFailed("rendering failed: "+err.Error(), err)
	}
	for _, w := range warns {
		r.logs.Add(ctx, run.LogWarn, w.String())
	}
	if len(warns) > 0 {
		if err := r.p.cfg.Store.RecordDiagnostics(ctx, r.rec.ID, append(append(spec.Diagnostics{}, diags...), warns...)); err != nil {
			return nil, "", fmt.Errorf("record diagnostics: %w", err)
		}
	}
	r.logs.Add(ctx, run.LogInfo, "build context "+bctx.ContextHash())
	// The cache key is the context plus what this pipeline makes of it:
	// an image-only run must not satisfy a later run that wants an ISO.
	key := tenantKey(r.rec.InstallationID, r.p.cacheKey(bctx.ContextHash(), doc.Spec.Outputs, r.rec.NoBootTest))
	// The base image is named by tag in the context; its identity joins
	// the key, so a re-imported base (security updates) is a new build.
	if id, err := r.baseImageID(ctx, bctx); err != nil {
		return nil, "", stepFailed(err.Error(), err)
	} else if id != "" {
		key += "+base:" + id
		r.baseID = id
	}
	// The package indexes' date joins the key too: a rebuild after the
	// distribution published updates is a real build.
	if date, ok := r.probeIndex(ctx, doc.Spec); ok {
		key += "+index:" + date.UTC().Format(time.RFC3339)
		r.indexDate = date
	}
	if err := r.p.cfg.Store.RecordHashes(ctx, r.rec.ID, key, bctx.SpecHash()); err != nil {
		return nil, "", fmt.Errorf("record context hash: %w", err)
	}
	if r.rec.NoCache {
		r.p.cfg.Observer.CacheLookup(CacheLookupBypassed)
		r.logs.Add(ctx, run.LogInfo, "a fresh build was asked for: no earlier run's artifacts and no cached layer are used")
		return bctx, Next, nil
	}
	cached, err := r.p.cfg.Store.CachedArtifacts(ctx, key)
	switch {
	case errors.Is(err, ErrNoCache):
		r.p.cfg.Observer.CacheLookup(CacheLookupMiss)
		return bctx, Next, nil
	case err != nil:
		return nil, "", fmt.Errorf("cache lookup: %w", err)
	}
	have := map[string]bool{}
	for _, a := range r.arts {
		have[a.Name] = true
	}
	arts, err := r.adoptCached(ctx, cached.Artifacts, have)
	if err != nil {
		r.p.cfg.Observer.CacheLookup(CacheLookupUnusable)
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("cache of run %d is not usable (%v): building", cached.Run, err))
		return bctx, Next, nil
	}
	r.p.cfg.Observer.CacheLookup(CacheLookupHit)
	r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("cache hit: run %d built the same context; reusing its %d artifacts", cached.Run, len(arts)))
	if cached.PartialReason != "" {
		if err := r.partial(ctx, Partial{Reason: cached.PartialReason}); err != nil {
			return nil, "", err
		}
	}
	for _, a := range arts {
		if err := r.p.cfg.Store.AddArtifact(ctx, r.rec.ID, a); err != nil {
			return nil, "", fmt.Errorf("record cached artifact: %w", err)
		}
		r.arts = append(r.arts, a)
	}
	return bctx, CacheHit, nil
}

func (r *execution) build(ctx context.Context, bctx BuildContext) error {
	tag := fmt.Sprintf("%s:%d", r.p.cfg.ImageRepo, r.rec.ID)
	if err := r.ensureSystem(ctx, bctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return stepFailed("building the shared system image failed: "+err.Error(), err)
	}
	labels := map[string]string{
		"io.linux-builder.run-id":       fmt.Sprint(r.rec.ID),
		"io.linux-builder.context-hash": bctx.ContextHash(),
		LabelRunKey:                     RunKey(r.rec),
	}
	id, err := r.p.cfg.Builder.Build(ctx, BuildRequest{Context: bctx, Tag: tag, Labels: labels, NoCache: r.rec.NoCache}, func(line string) {
		r.logs.Add(ctx, run.LogInfo, line)
	})
	if id != "" {
		r.image = id
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return stepFailed("docker build failed: "+err.Error(), err)
	}
	r.image = id
	r.logs.Add(ctx, run.LogInfo, "built "+tag+" ("+id+")")
	if err := r.recordManifest(ctx); err != nil {
		return err
	}
	// With an ISO to make, image.tar.zst is written from the ISO step's
	// export (imagearchive.go); otherwise, or when the image's config
	// can't be read, docker save writes it now.
	if r.flat = r.flattenLater(ctx, id, tag); r.flat == nil {
		if err := r.saveImageArtifact(ctx); err != nil {
			return err
		}
	}
	if r.p.cfg.Pusher != nil && r.p.cfg.PushRepo != "" {
		ref := fmt.Sprintf("%s:run-%d", r.p.cfg.PushRepo, r.rec.ID)
		err := r.p.cfg.Pusher.Push(ctx, id, ref, func(line string) { r.logs.Add(ctx, run.LogInfo, line) })
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			r.warn(ctx, "pushing the image failed, it is published as image.tar.zst instead: "+err.Error())
		default:
			if err := r.addArtifact(ctx, Artifact{Name: "image-ref", Type: run.ArtifactImageRef, Path: ref}); err != nil {
				return err
			}
		}
	}
	return nil
}

// saveImage streams docker save through zstd into path, computing the
// file's size and sha256 as it is written; memory use does not depend on
// the image size.
func (r *execution) saveImage(ctx context.Context, id, path string) (int64, string, error) {
	return r.writeCompressed(ctx, path, r.p.cfg.Limits.MaxImageBytes, func(w io.Writer) error { return r.p.cfg.Builder.Save(ctx, id, w) })
}

// writeCompressed writes path through zstd from fill, capped at limit
// bytes of fill's bytes, and returns the file's size and
// sha256 as written. The file appears whole or not at all: it is written
// as path.part, removed in every case, and renamed when complete.
func (r *execution) writeCompressed(ctx context.Context, path string, limit int64, fill func(io.Writer) error) (int64, string, error) {
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, "", fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	sum := sha256.New()
	counted := &countWriter{w: io.MultiWriter(f, sum)}
	enc, err := newImageEncoder(counted)
	if err != nil {
		f.Close()
		return 0, "", fmt.Errorf("zstd: %w", err)
	}
	capped := &capWriter{w: enc, left: limit}
	if err := fill(capped); err != nil {
		if capped.over {
			err = fmt.Errorf("the image is larger than the limit of %d bytes", limit)
		}
		enc.Close()
		f.Close()
		return 0, "", err
	}
	if err := ctx.Err(); err != nil {
		enc.Close()
		f.Close()
		return 0, "", err
	}
	if err := enc.Close(); err != nil {
		f.Close()
		return 0, "", fmt.Errorf("zstd: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, "", fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, "", fmt.Errorf("rename %s: %w", tmp, err)
	}
	return counted.n, hex.EncodeToString(sum.Sum(nil)), nil
}

// capWriter fails a write past its byte budget.
type capWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		c.over = true
		return 0, errors.New("over the size limit")
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// marker is what the attempt's boot-tested systems print once booted:
// the run and 128 random bits (markerNonce), the same for its ISO and disk image. The
// boot test passes when the console shows it, so it must not be known
// before the media are made: a spec's kernel parameters (which the kernel
// echoes on the console) or an image's scripts could print a guessable
// one without the system booting.
func (r *execution) marker() string {
	return fmt.Sprintf("LINUX-BUILDER-BOOT-OK run=%d %s", r.rec.ID, r.markerNonce)
}

// bootTested reports whether the run's media are boot-tested: the
// pipeline has a boot tester and the run did not ask for no boot test.
func (r *execution) bootTested() bool {
	return r.p.cfg.Boot != nil && !r.rec.NoBootTest
}

func (r *execution) makeISO(ctx context.Context) (string, Event, error) {
	if r.p.cfg.ISO == nil {
		return "", SoftFail, r.partial(ctx, Partial{Reason: "ISO generation is not configured; the run publishes the image only"})
	}
	path := filepath.Join(r.dir, "linux.iso")
	if !r.publishesISO() {
		// Made only to install the disk image from (spec.DiskByInstall):
		// scratch, removed once the run ends.
		if err := os.MkdirAll(filepath.Join(r.dir, "work"), 0o750); err != nil {
			return "", "", fmt.Errorf("work directory: %w", err)
		}
		path = filepath.Join(r.dir, "work", "install.iso")
		r.logs.Add(ctx, run.LogInfo, "the spec's outputs do not include iso: the live ISO is made to install the disk image from, and not published")
	}
	req := ISORequest{Image: r.image, Output: path, VolumeID: "LINUXBUILDER"}
	if r.bootTested() {
		// Only an ISO that is boot-tested gets the marker: without a boot
		// test (--no-boot-test, or a run that asked for none) the live
		// system has none of its files.
		req.Marker = r.marker()
	}
	spool := r.teeImage(ctx, &req)
	if spool != nil {
		defer spool.remove()
	}
	err := r.p.cfg.ISO.Build(ctx, req, func(line string) { r.logs.Add(ctx, run.LogInfo, line) })
	if ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	if errors.Is(err, ErrEngineLost) {
		return "", "", err // the attempt is retried, not the run made partial
	}
	// The image artifact first: the run has it whatever the ISO became.
	if r.flat != nil {
		if err := r.flatImageArtifact(ctx, spool, err == nil); err != nil {
			return "", "", err
		}
	}
	if err != nil {
		return "", SoftFail, r.partial(ctx, Partial{Reason: "ISO generation failed: " + err.Error(), Failed: true})
	}
	if r.spec != nil && r.spec.DiskByInstall() {
		r.installISO = path
	}
	if !r.publishesISO() {
		return "", Next, nil
	}
	if err := r.addFileArtifact(ctx, "linux.iso", run.ArtifactISO); err != nil {
		return "", "", err
	}
	r.warnSecureBoot(ctx)
	return path, Next, nil
}

// partial warns and records that the run will end with the image only.
func (r *execution) partial(ctx context.Context, p Partial) error {
	r.warn(ctx, p.Reason)
	return r.mark(ctx, p)
}

// mark records the run's partial result. A run can be partial for more
// than one reason (a disk that failed, then a boot test that is not
// configured): the store keeps them all, joined, and Failed once any
// step failed, so the cache never reuses a run a failure made partial.
func (r *execution) mark(ctx context.Context, p Partial) error {
	if r.partialSoFar.Reason != "" {
		p = Partial{Reason: r.partialSoFar.Reason + "; " + p.Reason, Failed: p.Failed || r.partialSoFar.Failed}
	}
	r.partialSoFar = p
	if err := r.p.cfg.Store.MarkPartial(ctx, r.rec.ID, p); err != nil {
		return fmt.Errorf("record partial result: %w", err)
	}
	return nil
}

func (r *execution) warn(ctx context.Context, msg string) {
	r.warnings = append(r.warnings, msg)
	r.logs.Add(ctx, run.LogWarn, msg)
}

// addFileArtifact hashes a file in the run's directory and records it.
func (r *execution) addFileArtifact(ctx context.Context, name string, typ run.ArtifactType) error {
	path := filepath.Join(r.dir, name)
	size, sum, err := hashFile(path)
	if err != nil {
		return fmt.Errorf("artifact %s: %w", name, err)
	}
	return r.addArtifact(ctx, Artifact{Name: name, Type: typ, Path: path, Size: size, SHA256: sum})
}

// addArtifact records an artifact of the run: every artifact passes here.
// With an artifact store, a file is uploaded first and recorded by its key
// only once the upload succeeded (a failed upload records nothing: a
// retryable failure retries the job, another fails the run); the local
// file is then removed, except the ISO, which the boot test still reads.
func (r *execution) addArtifact(ctx context.Context, a Artifact) error {
	if r.p.cfg.Artifacts != nil && a.Type != run.ArtifactImageRef {
		obj, err := r.p.cfg.Artifacts.Upload(ctx, r.rec.ID, a.Name, a.Path)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && r.p.cfg.Artifacts.Retryable(err):
			return &errRetry{fmt.Errorf("storing artifact %s: %w", a.Name, err)}
		case err != nil:
			return stepFailed(fmt.Sprintf("storing artifact %s failed: %v", a.Name, err), err)
		case a.SHA256 != "" && obj.SHA256 != a.SHA256:
			// The file changed between hashing and uploading: a bug.
			return fmt.Errorf("artifact %s: uploaded sha256 %s, the file had %s", a.Name, obj.SHA256, a.SHA256)
		}
		a.Key, a.Size, a.SHA256 = obj.Key, obj.Size, obj.SHA256
		if a.Type != run.ArtifactISO {
			_ = os.Remove(a.Path)
		}
	}
	if err := r.p.cfg.Store.AddArtifact(ctx, r.rec.ID, a); err != nil {
		return fmt.Errorf("record artifact %s: %w", a.Name, err)
	}
	r.arts = append(r.arts, a)
	return nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
