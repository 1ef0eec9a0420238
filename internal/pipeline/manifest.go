package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/run"
)

// PackageLister is what an ImageBuilder may also do: read an image's
// dpkg status file (pipeline/docker does, through a container that is
// never started). A builder without it records no package manifest.
type PackageLister interface {
	// DpkgStatus returns the image's /var/lib/dpkg/status, at most max
	// bytes, or ErrNoPackageDB when the image has none.
	DpkgStatus(ctx context.Context, imageID string, max int64) ([]byte, error)
}

// ErrNoPackageDB says an image has no dpkg status file (not a
// Debian-family system).
var ErrNoPackageDB = errors.New("the image has no dpkg package database")

// MaxDpkgStatus bounds the dpkg status file read from an image (a full
// desktop's is a few MiB).
const MaxDpkgStatus = 64 << 20

// recordManifest writes the image's installed packages as packages.txt
// ("name\tversion\tarch" lines, sorted) and records it as the run's
// manifest artifact: what scheduled rebuilds compare with the
// distribution's updates. An image without dpkg, or a status file that
// cannot be read, gives no manifest and a log line, never a failed run;
// only a store failure is returned.
func (r *execution) recordManifest(ctx context.Context) error {
	pl, ok := r.p.cfg.Builder.(PackageLister)
	if !ok || r.image == "" {
		return nil
	}
	status, err := pl.DpkgStatus(ctx, r.image, MaxDpkgStatus)
	if errors.Is(err, ErrNoPackageDB) {
		r.logs.Add(ctx, run.LogInfo, "no dpkg package database in the image: no package manifest")
		return nil
	}
	if err == nil {
		err = r.writeManifest(status)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrEngineLost) {
			return err
		}
		r.logs.Add(ctx, run.LogWarn, "no package manifest: "+err.Error())
		return nil
	}
	return r.addFileArtifact(ctx, dpkg.ManifestName, run.ArtifactManifest)
}

func (r *execution) writeManifest(status []byte) error {
	ps, err := dpkg.ParseStatus(bytes.NewReader(status))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := dpkg.WriteManifest(&b, ps); err != nil {
		return err
	}
	path := filepath.Join(r.dir, dpkg.ManifestName)
	if err := os.WriteFile(path, b.Bytes(), 0o640); err != nil {
		return fmt.Errorf("write %s: %w", dpkg.ManifestName, err)
	}
	return nil
}
