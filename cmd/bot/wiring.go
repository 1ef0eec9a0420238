package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/mirror"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// pipelineFlags configure the build pipeline for build and worker.
type pipelineFlags struct {
	noISO, noBoot, keepImage bool
	firmwares                string
	imageRepo                string
	artifactStore            string
	bootTimeout              int
	buildNetwork             string
	perInstallation          int
	build                    docker.BuildLimits
	run                      pipeline.Limits
	// envErr is a malformed RUN_LOG_MAX_* (the flags' defaults), reported
	// when the pipeline is made.
	envErr error
	// janitor, set by the worker commands, prunes the engine within
	// cacheBudget every hour (gc.go).
	janitor     bool
	cacheBudget int64
	// metrics, set by serve and worker (not a flag), observes the
	// pipeline and the artifact store.
	metrics *metrics.Metrics
}

func (f *pipelineFlags) register(flags interface {
	BoolVar(*bool, string, bool, string)
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	Int64Var(*int64, string, int64, string)
	Float64Var(*float64, string, float64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	flags.Int64Var(&f.build.MemoryBytes, "build-memory", 4<<30, "bytes of memory (swap included) a build's containers may use; 0: no limit")
	flags.Float64Var(&f.build.CPUs, "build-cpus", 2, "CPU cores a build's containers may use; 0: no limit")
	flags.Int64Var(&f.build.Pids, "build-pids", 4096, "processes and threads of one build (needs the engine's cgroupfs driver); 0: no limit")
	flags.StringVar(&f.buildNetwork, "build-network", docker.DefaultBuildNetwork.Name, "Docker network for the builds' RUN steps: made with its egress policy at start if missing (see 'bot network setup'); \"bridge\": the engine's default bridge, no policy")
	flags.IntVar(&f.perInstallation, "max-builds-per-installation", 2, "builds of one GitHub installation running at once across all workers; 0: no bound")
	flags.DurationVar(&f.run.BuildTimeout, "build-timeout", 60*time.Minute, "time limit of the build step (docker build; and docker save when there is no ISO step)")
	flags.DurationVar(&f.run.ISOTimeout, "iso-timeout", 20*time.Minute, "time limit of the ISO step")
	flags.DurationVar(&f.run.DiskTimeout, "disk-timeout", 40*time.Minute, "time limit of the disk image step (specs with outputs qcow2 or raw)")
	flags.Int64Var(&f.run.MaxImageBytes, "max-image-size", 16<<30, "bytes an image may have uncompressed (docker save's size, or its export's when the ISO step makes image.tar.zst); larger images fail the run")
	logLines, logBytes, envErr := logLimitDefaults()
	f.envErr = envErr
	flags.IntVar(&f.run.MaxLogLines, "max-log-lines", logLines, "log lines kept per run attempt (env RUN_LOG_MAX_LINES): its first lines, one \"N lines omitted\" line and its last lines (a quarter of the limit)")
	flags.Int64Var(&f.run.MaxLogBytes, "max-log-bytes", logBytes, "log bytes kept per run attempt (env RUN_LOG_MAX_BYTES), head and tail as for lines")
	flags.BoolVar(&f.noISO, "no-iso", false, "build the image only (no ISO, no disk images, no boot test)")
	flags.BoolVar(&f.noBoot, "no-boot-test", false, "do not boot-test the ISO and the disk images")
	flags.StringVar(&f.firmwares, "firmware", "bios,uefi,uefi-secureboot", "firmwares to boot-test the ISO with: bios, uefi, uefi-secureboot (UEFI with Secure Boot enforced; Debian specs only), comma-separated "+
		"(disk images boot with their spec's customization.firmware, and with uefi-secureboot when it is listed here)")
	flags.StringVar(&f.imageRepo, "image-repo", "linux-builder", "repository of local image tags (<repo>:<run id>); set DOCKER_IMAGE_REPO with DOCKER_USERNAME/DOCKER_PASSWORD (DOCKER_REGISTRY) to also push")
	flags.IntVar(&f.bootTimeout, "boot-timeout", 300, "seconds a boot test may take")
	flags.StringVar(&f.artifactStore, "artifact-store", os.Getenv("ARTIFACT_STORE"), "where artifacts live (env ARTIFACT_STORE): file:///abs/dir or s3://bucket?endpoint=URL&region=R&use_path_style=true (credentials from AWS_*); empty: <data-dir>/artifacts")
}

// openArtifacts opens the artifact store of --artifact-store (default:
// <dataDir>/artifacts) and checks it: a malformed URL is a usage error, a
// store that cannot be used (a missing bucket or directory, refused
// credentials, an unreachable server) stops start-up with its reason.
func openArtifacts(ctx context.Context, rawURL, dataDir string) (*artifacts.Store, error) {
	s, err := artifacts.Open(ctx, artifacts.Config{URL: rawURL, DataDir: dataDir})
	if err != nil {
		return nil, fmt.Errorf("%w: ARTIFACT_STORE: %w", errUsage, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Check(cctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("ARTIFACT_STORE is not usable: %w", err)
	}
	return s, nil
}

// artifactRetention reads ARTIFACT_RETENTION: how long artifacts are kept
// after they are recorded (default 30 days; "30d", or a Go duration such
// as "720h"; 0 keeps them).
func artifactRetention() (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv("ARTIFACT_RETENTION"))
	if v == "" {
		return 30 * 24 * time.Hour, nil
	}
	if v == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d >= time.Minute {
		return d, nil
	}
	return 0, fmt.Errorf("%w: ARTIFACT_RETENTION=%q: want days (30d), a duration of at least 1m (720h) or 0 (keep)", errUsage, v)
}

// newPipeline wires the pipeline over the store and the artifact store,
// with the real engine, ISO builder and boot tester (engineParts). releases,
// when set, queues the release of a GitHub run as it ends successfully.
// The returned function releases the engine.
func newPipeline(ctx context.Context, db *store.DB, dataDir string, f pipelineFlags, reporters []pipeline.Reporter, fetcher pipeline.SpecFetcher,
	releases store.ReleaseJobs, as *artifacts.Store) (*pipeline.Pipeline, func(), error) {
	retention, err := artifactRetention()
	if err != nil {
		return nil, nil, err
	}
	if f.envErr != nil {
		return nil, nil, f.envErr
	}
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		return nil, nil, err
	}
	cfg := pipeline.Config{
		Store:        pipelinestore.Store{DB: db, Releases: releases, Retention: retention},
		Renderer:     r.ForPipeline(render.Options{}),
		Limits:       f.run,
		Reporters:    reporters,
		Fetcher:      fetcher,
		ArtifactsDir: workDir(dataDir),
		Artifacts:    pipelinestore.Artifacts{Store: as, Fence: db.CheckFence},
		ImageRepo:    f.imageRepo,
		KeepImage:    f.keepImage,
	}
	if f.metrics != nil {
		cfg.Observer = f.metrics
	}
	closeEngine, err := engineParts(ctx, f, &cfg)
	if err != nil {
		return nil, nil, err
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		closeEngine()
		return nil, nil, err
	}
	return p, closeEngine, nil
}

// engineParts connects the Docker engine and sets cfg's builder, pusher,
// ISO builder and boot tester. A variable: the two-machine test runs real
// workers over a fake engine.
var engineParts = dockerParts

func dockerParts(ctx context.Context, f pipelineFlags, cfg *pipeline.Config) (func(), error) {
	eng, err := docker.Connect(ctx)
	if err != nil {
		return nil, err
	}
	eng.Limits = f.build
	if err := eng.CheckLimits(); err != nil {
		eng.Close()
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.buildNetwork == "bridge" {
		slog.Warn("builds run on the engine's default bridge: they can reach private and link-local addresses and the host")
	} else {
		if err := eng.PrepareBuildNetwork(ctx, f.buildNetwork); err != nil {
			eng.Close()
			return nil, fmt.Errorf("the build network's egress policy (use --build-network bridge to build on the engine's default bridge without it): %w", err)
		}
		eng.Network = f.buildNetwork
	}
	cfg.Builder = eng
	closeEng := func() { eng.Close() }
	if st, ok := cfg.Store.(pipelinestore.Store); ok && f.janitor {
		stop := startDockerJanitor(ctx, eng, st.DB, botRepos(f.imageRepo), f.cacheBudget)
		closeEng = func() { stop(); eng.Close() }
	}
	ttl, err := indexTTL()
	if err != nil {
		closeEng()
		return nil, err
	}
	if ttl > 0 {
		// The date of the distribution's package indexes joins the cache
		// key, and a newer one rebuilds the shared system image.
		cfg.Index, cfg.IndexTTL = mirrorFromEnv(), ttl
	}
	if repo := os.Getenv("DOCKER_IMAGE_REPO"); repo != "" && os.Getenv("DOCKER_PASSWORD") != "" {
		cfg.PushRepo = repo
		cfg.Pusher = docker.Pusher{Engine: eng, Creds: docker.Credentials{
			Username: os.Getenv("DOCKER_USERNAME"), Password: os.Getenv("DOCKER_PASSWORD"), ServerAddress: os.Getenv("DOCKER_REGISTRY"),
		}}
	}
	if !f.noISO {
		// The ISO step reads no more of an image than the build may make.
		cfg.ISO = &iso.Builder{Exporter: eng, Limits: iso.Limits{MaxBytes: f.run.MaxImageBytes}}
		// The disk step reads the image as the ISO step does; its disks
		// are at most the spec's cap.
		cfg.Disk = &disk.Builder{Exporter: eng, Tools: eng, Installer: &boot.Tester{}, Limits: iso.Limits{MaxBytes: f.run.MaxImageBytes}, MaxDiskBytes: spec.MaxDiskImageBytes,
			Timeout: f.run.DiskTimeout}
		if !f.noBoot {
			cfg.Boot = &boot.Tester{}
			cfg.BootTimeout = secondsDuration(f.bootTimeout)
			cfg.Firmwares = nil
			for _, fw := range strings.Split(f.firmwares, ",") {
				parsed, ok := pipeline.ParseFirmware(strings.TrimSpace(fw))
				if !ok {
					closeEng()
					return nil, fmt.Errorf("%w: --firmware %q: want bios, uefi or uefi-secureboot, comma-separated", errUsage, fw)
				}
				cfg.Firmwares = append(cfg.Firmwares, parsed)
			}
		}
	}
	return closeEng, nil
}

var reSuite = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }

// mirrorFromEnv is the client of the distributions' archives, at the
// addresses the environment gives (DEBIAN_MIRROR, …) or the defaults.
func mirrorFromEnv() *mirror.Client {
	return mirror.New(mirror.Config{
		Debian: os.Getenv("DEBIAN_MIRROR"), DebianSecurity: os.Getenv("DEBIAN_SECURITY_MIRROR"),
		Ubuntu: os.Getenv("UBUNTU_MIRROR"), UbuntuSecurity: os.Getenv("UBUNTU_SECURITY_MIRROR"), UbuntuPorts: os.Getenv("UBUNTU_PORTS_MIRROR"),
	})
}

// indexTTL is how long the date of a distribution's package indexes is
// trusted before the archive is asked again (PACKAGE_INDEX_TTL, default
// 10m); "off" never asks: the cache key goes without the date.
func indexTTL() (time.Duration, error) {
	v := os.Getenv("PACKAGE_INDEX_TTL")
	switch v {
	case "":
		return 10 * time.Minute, nil
	case "off":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: PACKAGE_INDEX_TTL=%q: want a positive duration such as 10m, or off", errUsage, v)
	}
	return d, nil
}
