package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/bridge"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/store"
)

// pipelineFlags configure the build pipeline for build and worker.
type pipelineFlags struct {
	noISO, noBoot, keepImage bool
	firmwares                string
	imageRepo                string
	bootTimeout              int
}

func (f *pipelineFlags) register(flags interface {
	BoolVar(*bool, string, bool, string)
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	flags.BoolVar(&f.noISO, "no-iso", false, "build the image only (no ISO, no boot test)")
	flags.BoolVar(&f.noBoot, "no-boot-test", false, "do not boot-test the ISO")
	flags.StringVar(&f.firmwares, "firmware", "bios,uefi", "firmwares to boot-test: bios, uefi or both")
	flags.StringVar(&f.imageRepo, "image-repo", "linux-builder", "repository of local image tags (<repo>:<run id>); set DOCKER_IMAGE_REPO with DOCKER_USERNAME/DOCKER_PASSWORD (DOCKER_REGISTRY) to also push")
	flags.IntVar(&f.bootTimeout, "boot-timeout", 300, "seconds a boot test may take")
}

// newPipeline wires the real engine, ISO builder and boot tester.
func newPipeline(ctx context.Context, db *store.DB, dataDir string, f pipelineFlags, reporters []pipeline.Reporter, fetcher pipeline.SpecFetcher, publisher pipeline.Publisher) (*pipeline.Pipeline, *docker.Engine, error) {
	eng, err := docker.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	cfg := pipeline.Config{
		Store:        bridge.Store{DB: db},
		Renderer:     r.ForPipeline(render.Options{}),
		Builder:      eng,
		Reporters:    reporters,
		Fetcher:      fetcher,
		Publisher:    publisher,
		ArtifactsDir: artifactsDir(dataDir),
		ImageRepo:    f.imageRepo,
		KeepImage:    f.keepImage,
	}
	if repo := os.Getenv("DOCKER_IMAGE_REPO"); repo != "" && os.Getenv("DOCKER_PASSWORD") != "" {
		cfg.PushRepo = repo
		cfg.Pusher = docker.Pusher{Engine: eng, Creds: docker.Credentials{
			Username: os.Getenv("DOCKER_USERNAME"), Password: os.Getenv("DOCKER_PASSWORD"), ServerAddress: os.Getenv("DOCKER_REGISTRY"),
		}}
	}
	if !f.noISO {
		cfg.ISO = &iso.Builder{Exporter: eng}
		if !f.noBoot {
			cfg.Boot = &boot.Tester{}
			cfg.BootTimeout = secondsDuration(f.bootTimeout)
			cfg.Firmwares = nil
			for _, fw := range strings.Split(f.firmwares, ",") {
				switch fw := pipeline.Firmware(strings.TrimSpace(fw)); fw {
				case pipeline.BIOS, pipeline.UEFI:
					cfg.Firmwares = append(cfg.Firmwares, fw)
				default:
					eng.Close()
					return nil, nil, fmt.Errorf("%w: --firmware %q: want bios, uefi or both", errUsage, fw)
				}
			}
		}
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	return p, eng, nil
}

var reSuite = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }
