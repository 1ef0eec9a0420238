package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/report"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Garbage collection: what the bot keeps on disk, in the engine and on
// GitHub stays bounded. The periodic parts run in every worker (the
// artifact-retention and release-pruning jobs on the queue; the Docker
// janitor per worker process, as each machine has its own engine); `bot
// gc` runs them all once.

// defaultCacheBudget is DOCKER_CACHE_BUDGET's default: 20 GiB.
const defaultCacheBudget = 20 << 30

// janitorEvery is how often a worker prunes its engine; the first pass
// comes janitorFirst after start.
const (
	janitorEvery = time.Hour
	janitorFirst = time.Minute
)

var reBytes = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$`)

// parseBytes reads a size: a number of bytes, or one with a unit (KB, MB,
// GB, TB: powers of 1000; KiB, MiB, GiB, TiB: of 1024; K, M, G, T are
// binary too).
func parseBytes(s string) (int64, error) {
	m := reBytes.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with a unit such as 500MB or 20GiB)", s)
	}
	units := map[string]float64{"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3, "m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9, "t": 1 << 40, "tib": 1 << 40, "tb": 1e12}
	mult, ok := units[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, m[2])
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return int64(n * mult), nil
}

// dockerCacheBudget reads DOCKER_CACHE_BUDGET: the bytes the bot's images
// may take in the engine (default 20GiB; "off": no pruning).
func dockerCacheBudget() (budget int64, on bool, err error) {
	v := strings.TrimSpace(os.Getenv("DOCKER_CACHE_BUDGET"))
	switch strings.ToLower(v) {
	case "":
		return defaultCacheBudget, true, nil
	case "off":
		return 0, false, nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return 0, false, fmt.Errorf("%w: DOCKER_CACHE_BUDGET: %w, or off", errUsage, err)
	}
	return n, true, nil
}

// releaseKeep reads RELEASE_KEEP: how many of the bot's releases of each
// repository and branch stay (0 or unset: all).
func releaseKeep() (int, error) {
	v := strings.TrimSpace(os.Getenv("RELEASE_KEEP"))
	if v == "" || v == "0" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: RELEASE_KEEP=%q: want a number of releases per branch (0 or unset keeps all)", errUsage, v)
	}
	return n, nil
}

// logLimitDefaults are --max-log-lines and --max-log-bytes's defaults:
// RUN_LOG_MAX_LINES and RUN_LOG_MAX_BYTES (a size: 8MiB), or 20,000 lines
// and 8 MiB. A malformed value is returned as an error for the command
// to report.
func logLimitDefaults() (lines int, bytes int64, err error) {
	lines, bytes = 20_000, 8<<20
	if v := strings.TrimSpace(os.Getenv("RUN_LOG_MAX_LINES")); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 10 {
			err = fmt.Errorf("%w: RUN_LOG_MAX_LINES=%q: want a number of lines, at least 10", errUsage, v)
		} else {
			lines = n
		}
	}
	if v := strings.TrimSpace(os.Getenv("RUN_LOG_MAX_BYTES")); v != "" {
		n, perr := parseBytes(v)
		if perr != nil || n < 1<<10 {
			err = errors.Join(err, fmt.Errorf("%w: RUN_LOG_MAX_BYTES=%q: want a size of at least 1KiB, such as 8MiB", errUsage, v))
		} else {
			bytes = n
		}
	}
	return lines, bytes, err
}

// inFlight are the run keys (pipeline.RunKey) of the runs not ended.
func inFlight(ctx context.Context, db *store.DB) (map[string]bool, map[int64]bool, error) {
	runs, err := db.InFlightRuns(ctx, 100_000)
	if err != nil {
		return nil, nil, err
	}
	keys, ids := map[string]bool{}, map[int64]bool{}
	for _, r := range runs {
		keys[pipeline.RunKey(&pipeline.RunRecord{ID: r.ID, CreatedAt: r.CreatedAt})] = true
		ids[r.ID] = true
	}
	return keys, ids, nil
}

// endedRuns answers docker.PruneOptions.Ended from db: the run keys
// (pipeline.RunKey: id and creation time) of runs of db that have ended.
// A key of another database (an id db has not, or has with another
// creation time) or of a run not ended is left out.
func endedRuns(db *store.DB) func(ctx context.Context, keys []string) (map[string]bool, error) {
	return func(ctx context.Context, keys []string) (map[string]bool, error) {
		byID := map[int64][]string{}
		var ids []int64
		for _, k := range keys {
			s, _, ok := strings.Cut(k, "@")
			id, err := strconv.ParseInt(s, 10, 64)
			if !ok || err != nil || id <= 0 {
				continue
			}
			if byID[id] == nil {
				ids = append(ids, id)
			}
			byID[id] = append(byID[id], k)
		}
		ended := map[string]bool{}
		for len(ids) > 0 {
			batch := ids[:min(len(ids), 1000)]
			ids = ids[len(batch):]
			states, err := db.RunStates(ctx, batch)
			if err != nil {
				return nil, err
			}
			for _, st := range states {
				if !st.Status.Terminal() {
					continue
				}
				key := pipeline.RunKey(&pipeline.RunRecord{ID: st.ID, CreatedAt: st.CreatedAt})
				for _, k := range byID[st.ID] {
					if k == key {
						ended[k] = true
					}
				}
			}
		}
		return ended, nil
	}
}

// botRepos are the repositories the bot tags images in: imageRepo (a
// run's <repo>:<run id>), the shared system images'
// (render.SystemImageRepo) and DOCKER_IMAGE_REPO (a pushed run's
// <repo>:run-<run id>). Prune takes a tagged image for the bot's only if
// all its tags are in them.
func botRepos(imageRepo string) []string {
	repos := []string{imageRepo, render.SystemImageRepo}
	if r := strings.TrimSpace(os.Getenv("DOCKER_IMAGE_REPO")); r != "" {
		repos = append(repos, r)
	}
	return repos
}

// pruneEngine runs one Docker prune within budget: only the images in
// repos (and their layers) and only runs db knows to have ended; with a
// run in flight, the tagged system images stay.
func pruneEngine(ctx context.Context, eng *docker.Engine, db *store.DB, repos []string, budget int64, dryRun bool) (docker.PruneResult, error) {
	keys, _, err := inFlight(ctx, db)
	if err != nil {
		return docker.PruneResult{}, fmt.Errorf("docker prune: %w", err)
	}
	return eng.Prune(ctx, docker.PruneOptions{Budget: budget, Repos: repos, Ended: endedRuns(db), Busy: len(keys) > 0, DryRun: dryRun})
}

// startDockerJanitor prunes the engine every janitorEvery (the first
// time janitorFirst after start) until the returned function is called.
// A failed pass is logged; the next one tries again.
func startDockerJanitor(ctx context.Context, eng *docker.Engine, db *store.DB, repos []string, budget int64) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTimer(janitorFirst)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res, err := pruneEngine(ctx, eng, db, repos, budget, false)
			if err != nil && ctx.Err() == nil {
				slog.WarnContext(ctx, "docker prune: some of the bot's images or containers could not be removed; the next pass tries again", logging.KeyErr, err)
			}
			if res.Containers+res.Images > 0 {
				slog.InfoContext(ctx, "docker prune", "containers", res.Containers, "images", res.Images,
					"freed_bytes", res.ContainerBytes+res.ImageBytes, "bot_bytes", res.After, "budget", budget)
			}
			t.Reset(janitorEvery)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// releasePruneJob adapts report.ReleasePruner to the queue's periodic job.
type releasePruneJob struct{ p *report.ReleasePruner }

func (j releasePruneJob) PruneReleases(ctx context.Context) error {
	_, err := j.p.Prune(ctx, false)
	return err
}

var _ queue.ReleasePruner = releasePruneJob{}

// sweepWorkDirs removes the directories under dir (<data-dir>/work) of
// runs not in flight: a run's directory is scratch (its artifacts are in
// the artifact store) that a crash left behind. Other names are left
// alone. It returns the directories and bytes removed.
func sweepWorkDirs(dir string, flying map[int64]bool, dryRun bool) (int, int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("work directories: %w", err)
	}
	var n int
	var bytes int64
	var errs []error
	for _, e := range entries {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !e.IsDir() || flying[id] || e.Type()&fs.ModeSymlink != 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		size := treeSize(p)
		if !dryRun {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
				continue
			}
		}
		n++
		bytes += size
	}
	return n, bytes, errors.Join(errs...)
}

// treeSize is the bytes of the regular files under p (symbolic links are
// not followed).
func treeSize(p string) int64 {
	var n int64
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func newGCCmd() *cobra.Command {
	var (
		sf            storeFlags
		dryRun        bool
		artifactStore string
		imageRepo     string
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete what the bot no longer needs, once, and print what was freed",
		Long: `Gc runs once what workers do periodically, and prints what it freed:
  artifacts  expired artifacts (ARTIFACT_RETENTION, default 30d) are deleted
             from the artifact store (ARTIFACT_STORE) and the database;
  releases   with RELEASE_KEEP=N and a GitHub App configured, the bot's own
             releases beyond the newest N of each repository, branch and
             spec path are deleted (builds of a spec generated from a
             description count per issue, apart from the branch's; a
             retry of an old commit never counts as newer than a later
             commit); never a release the bot did not publish;
  docker     the bot's images (shared system images, kept runs' images, the
             layer cache) beyond DOCKER_CACHE_BUDGET (default 20GiB; off: no
             pruning) go, oldest first, with leftover export containers;
             only images tagged in the bot's repositories (--image-repo,
             linux-builder-system, DOCKER_IMAGE_REPO) and their untagged
             layers, and only of runs this database knows to have ended:
             never an image of a run in flight or of another database
             sharing the engine, a base image, an image the bot did not
             tag, or one a person built on the bot's;
  work       run directories under <data-dir>/work left by a crash (runs
             not in flight).
--dry-run deletes nothing and prints what would go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			budget, dockerOn, err := dockerCacheBudget()
			if err != nil {
				return err
			}
			keep, err := releaseKeep()
			if err != nil {
				return err
			}
			db, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			return runGC(ctx, cmd.OutOrStdout(), db, sf.dataDir, artifactStore, imageRepo, budget, dockerOn, keep, dryRun)
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "delete nothing; print what would be freed")
	cmd.Flags().StringVar(&imageRepo, "image-repo", "linux-builder", "the workers' --image-repo: the repository of the runs' image tags (<repo>:<run id>) whose images are the bot's")
	cmd.Flags().StringVar(&artifactStore, "artifact-store", os.Getenv("ARTIFACT_STORE"), "the artifact store (env ARTIFACT_STORE); empty: <data-dir>/artifacts")
	return cmd
}

// gcEngine connects the engine for bot gc; a variable for tests.
var gcEngine = func(ctx context.Context) (*docker.Engine, error) { return docker.Connect(ctx) }

// runGC runs every collector once and prints a line for each, then the
// total. Every collector runs even when another fails; the errors are
// returned together.
func runGC(ctx context.Context, out io.Writer, db *store.DB, dataDir, artifactStore, imageRepo string, budget int64, dockerOn bool, keep int, dryRun bool) error {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	size := func(n int64) string { return render.HumanSize(n) }
	var total int64
	var errs []error
	fail := func(what string, err error) {
		fmt.Fprintf(out, "%-10s failed: %v\n", what, err)
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}

	as, err := openArtifacts(ctx, artifactStore, dataDir)
	if err != nil {
		fail("artifacts", err)
	} else {
		defer as.Close()
		res, err := queue.ExpireArtifacts(ctx, db, as, slog.Default(), time.Now(), dryRun)
		fmt.Fprintf(out, "%-10s %s %d expired (%s)\n", "artifacts", verb, res.Artifacts, size(res.Bytes))
		total += res.Bytes
		if err != nil {
			fail("artifacts", err)
		}
	}

	switch gh, _ := workerApp(); {
	case keep == 0:
		fmt.Fprintf(out, "%-10s kept (RELEASE_KEEP is not set)\n", "releases")
	case gh == nil:
		fmt.Fprintf(out, "%-10s kept (no GitHub App configured)\n", "releases")
	default:
		p := &report.ReleasePruner{GitHub: gh, Store: db, Keep: keep, Batch: 1000, Logger: slog.Default()}
		res, err := p.Prune(ctx, dryRun)
		fmt.Fprintf(out, "%-10s %s %d beyond the newest %d per branch (%s of assets); %d already gone, %d left alone, %d failed\n",
			"releases", verb, res.Releases, keep, size(res.Bytes), res.Gone, res.Skipped, res.Failed)
		if err != nil {
			fail("releases", err)
		}
	}

	if !dockerOn {
		fmt.Fprintf(out, "%-10s kept (DOCKER_CACHE_BUDGET=off)\n", "docker")
	} else if eng, err := gcEngine(ctx); err != nil {
		fail("docker", err)
	} else {
		res, err := pruneEngine(ctx, eng, db, botRepos(imageRepo), budget, dryRun)
		eng.Close()
		fmt.Fprintf(out, "%-10s %s %d containers (%s) and %d images (%s); the bot's images: %s → %s (budget %s)\n", "docker", verb,
			res.Containers, size(res.ContainerBytes), res.Images, size(res.ImageBytes), size(res.Before), size(res.After), size(budget))
		total += res.ContainerBytes + res.ImageBytes
		if err != nil {
			fail("docker", err)
		}
	}

	if _, ids, err := inFlight(ctx, db); err != nil {
		fail("work", err)
	} else {
		n, bytes, err := sweepWorkDirs(workDir(dataDir), ids, dryRun)
		fmt.Fprintf(out, "%-10s %s %d leftover run directories (%s)\n", "work", verb, n, size(bytes))
		total += bytes
		if err != nil {
			fail("work", err)
		}
	}
	if dryRun {
		fmt.Fprintf(out, "would free %s on this machine (release assets not counted)\n", size(total))
	} else {
		fmt.Fprintf(out, "freed %s on this machine (release assets not counted)\n", size(total))
	}
	if len(errs) > 0 {
		return exitError{code: 1}
	}
	return nil
}
