package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// BuildLimits bound each build's containers: the RUN steps execute a
// stranger's scripts. Zero fields are unlimited.
type BuildLimits struct {
	MemoryBytes int64   // memory, swap included (no swap beyond it)
	CPUs        float64 // CPU time, in cores
	Pids        int64   // processes and threads of one build, all its steps together
}

// cgroupRoot is where the engine's cgroups live (a var for tests).
var cgroupRoot = "/sys/fs/cgroup"

// buildCgroupsDir is the cgroup under which each build gets its own, as
// the parent of its containers' cgroups: the engine's build options have
// no pids limit, but a parent cgroup's pids.max bounds all below it.
const buildCgroupsDir = "linux-builder"

var unsafeCgroupName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// CheckLimits says whether this engine can enforce e.Limits.
func (e *Engine) CheckLimits() error {
	if e.Limits.Pids > 0 && e.cgroupDriver != "cgroupfs" {
		return fmt.Errorf("a build pids limit needs the engine's cgroupfs cgroup driver (this engine uses %q): set --build-pids 0 or change the driver", e.cgroupDriver)
	}
	return nil
}

// pidsParent makes the parent cgroup of one build with pids.max set and
// returns its name for ImageBuildOptions.CgroupParent and a cleanup. It
// works with the engine's cgroupfs driver on cgroup v1 and v2; with
// another driver it returns "" and the engine's defaults apply.
func (e *Engine) pidsParent(ctx context.Context, tag string) (string, func(), error) {
	if e.Limits.Pids <= 0 {
		return "", func() {}, nil
	}
	if err := e.CheckLimits(); err != nil {
		return "", func() {}, err
	}
	name := unsafeCgroupName.ReplaceAllString(tag, "_")
	parent := "/" + buildCgroupsDir + "/" + name
	v2 := fileExists(filepath.Join(cgroupRoot, "cgroup.controllers"))
	var dir string
	if v2 {
		top := filepath.Join(cgroupRoot, buildCgroupsDir)
		if err := os.MkdirAll(top, 0o755); err != nil {
			return "", nil, fmt.Errorf("build cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(top, "cgroup.subtree_control"), []byte("+pids"), 0o644); err != nil {
			return "", nil, fmt.Errorf("build cgroup: enable pids: %w", err)
		}
		dir = filepath.Join(top, name)
	} else {
		dir = filepath.Join(cgroupRoot, "pids", buildCgroupsDir, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("build cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatInt(e.Limits.Pids, 10)), 0o644); err != nil {
		return "", nil, fmt.Errorf("build cgroup: pids.max: %w", err)
	}
	cleanup := func() {
		// The engine removes its containers' cgroups as it removes them;
		// the parents it made in v1's other hierarchies are ours to remove.
		dirs := []string{dir}
		if !v2 {
			if ents, err := os.ReadDir(cgroupRoot); err == nil {
				for _, h := range ents {
					if h.Name() != "pids" {
						dirs = append(dirs, filepath.Join(cgroupRoot, h.Name(), buildCgroupsDir, name))
					}
				}
			}
		}
		for _, d := range dirs {
			removeCgroup(ctx, d)
		}
	}
	return parent, cleanup, nil
}

// removeCgroup removes a cgroup directory and the empty ones below it,
// retrying while the engine finishes removing its containers.
func removeCgroup(ctx context.Context, dir string) {
	if !fileExists(dir) {
		return
	}
	var err error
	for i := 0; i < 20; i++ {
		if err = rmdirTree(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	slog.WarnContext(ctx, "remove a build's cgroup", "dir", dir, logging.KeyErr, err)
}

// rmdirTree removes empty cgroup directories bottom-up (cgroup files
// cannot and need not be removed).
func rmdirTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// describe is the limits in words, for the build's log.
func (l BuildLimits) describe() string {
	var parts []string
	if l.MemoryBytes > 0 {
		parts = append(parts, fmt.Sprintf("memory %d MiB", l.MemoryBytes>>20))
	}
	if l.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPUs", l.CPUs))
	}
	if l.Pids > 0 {
		parts = append(parts, fmt.Sprintf("%d processes", l.Pids))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
