package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// asset is one file to publish: a section of a file on disk.
type asset struct {
	name   string
	path   string
	offset int64
	size   int64
	sha256 string
	// artifactID is the artifact whose URL this asset gives (0: none).
	artifactID int64
}

// assets lists what to publish: the run's file artifacts, in parts when
// too large. The build log and SHA256SUMS are among them: the pipeline
// wrote them when the run completed (SHA256SUMS covers whole files: parts
// are checked after they are put together again).
func (r *Releases) assets(ctx context.Context, run *store.Run, arts []store.Artifact, dir string) ([]asset, []string, error) {
	part := r.PartSize
	if part <= 0 {
		part = MaxAsset - 1<<20
	}
	var out []asset
	var split []string
	for _, a := range arts {
		if !published(a) {
			continue
		}
		if err := inDir(a, dir); err != nil {
			return nil, nil, err
		}
		fi, err := os.Stat(a.Location)
		if err != nil {
			return nil, nil, fmt.Errorf("artifact %s: %w", a.Name, err)
		}
		if fi.Size() < MaxAsset && fi.Size() <= part {
			out = append(out, asset{name: a.Name, path: a.Location, size: fi.Size(), sha256: a.SHA256, artifactID: a.ID})
			continue
		}
		split = append(split, a.Name)
		n := 0
		for off := int64(0); off < fi.Size(); off += part {
			n++
			size := min(part, fi.Size()-off)
			sum, err := hashSection(a.Location, off, size)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, asset{name: fmt.Sprintf("%s.part%02d", a.Name, n), path: a.Location, offset: off, size: size, sha256: sum})
		}
	}
	return out, split, nil
}

// published reports whether an artifact of the pipeline is a release
// asset (an image reference names a registry image, not a file).
func published(a store.Artifact) bool {
	return a.Type != run.ArtifactImageRef
}

// runDir is run id's own directory.
func (r *Releases) runDir(id int64) (string, error) {
	if !filepath.IsAbs(r.ArtifactsDir) {
		return "", fmt.Errorf("releases: the artifacts directory %q is not an absolute path", r.ArtifactsDir)
	}
	return filepath.Join(r.ArtifactsDir, fmt.Sprint(id)), nil
}

// inDir checks that artifact a is a file of the run's own directory dir:
// a relative location (a relative DATA_DIR) or one in another run's
// directory (a cache hit recorded before runs had their own copies) is
// an error, never a silent omission nor another run's file.
func inDir(a store.Artifact, dir string) error {
	if !filepath.IsAbs(a.Location) {
		return fmt.Errorf("artifact %s: location %q is not an absolute path: not published", a.Name, a.Location)
	}
	if filepath.Dir(filepath.Clean(a.Location)) != dir {
		return fmt.Errorf("artifact %s: %q is not in the run's directory %s: not published", a.Name, a.Location, dir)
	}
	return nil
}

func hashSection(path string, off, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, io.NewSectionReader(f, off, size))
	if err = errors.Join(err, f.Close()); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
