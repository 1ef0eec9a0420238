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

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// asset is one file to publish: a section of an artifact.
type asset struct {
	name string
	// key is the artifact's object in the artifact store; path, for a row
	// recorded before the store, its file on this machine.
	key, path string
	offset    int64
	size      int64
	sha256    string
	// artifactID is the artifact whose URL this asset gives (0: none).
	artifactID int64
}

// assets lists what to publish: the run's file artifacts, in parts when
// too large. The build log and SHA256SUMS are among them: the pipeline
// wrote them when the run completed (SHA256SUMS covers whole files: parts
// are checked after they are put together again).
func (r *Releases) assets(ctx context.Context, rn *store.Run, arts []store.Artifact) ([]asset, []string, error) {
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
		src, size, err := r.source(ctx, rn.ID, a)
		if err != nil {
			return nil, nil, err
		}
		if size < MaxAsset && size <= part {
			src.size, src.sha256, src.artifactID = size, a.SHA256, a.ID
			out = append(out, src)
			continue
		}
		split = append(split, a.Name)
		n := 0
		for off := int64(0); off < size; off += part {
			n++
			p := src
			p.name, p.offset, p.size = fmt.Sprintf("%s.part%02d", a.Name, n), off, min(part, size-off)
			if p.sha256, err = r.hashSection(ctx, p); err != nil {
				return nil, nil, err
			}
			out = append(out, p)
		}
	}
	return out, split, nil
}

// published reports whether an artifact of the pipeline is a release
// asset (an image reference names a registry image, not a file).
func published(a store.Artifact) bool {
	return a.Type != run.ArtifactImageRef
}

// source is where artifact a of run id is read from, and its size: its
// object in the artifact store, which must be one of the run's own keys
// (artifacts.RunKey), or — for a row recorded before the store — its file
// in the run's own directory on this machine. Anything else (another
// run's object or directory, a relative path) is an error, never a silent
// omission nor another run's file.
func (r *Releases) source(ctx context.Context, id int64, a store.Artifact) (asset, int64, error) {
	if a.Key != "" {
		want, err := artifacts.RunKey(id, a.Name)
		if err != nil || a.Key != want {
			return asset{}, 0, fmt.Errorf("artifact %s: key %q is not one of run %d's: not published", a.Name, a.Key, id)
		}
		if r.Artifacts == nil {
			return asset{}, 0, fmt.Errorf("artifact %s: no artifact store to read %s from", a.Name, a.Key)
		}
		obj, err := r.Artifacts.Stat(ctx, a.Key)
		if err != nil {
			return asset{}, 0, fmt.Errorf("artifact %s: %w", a.Name, err)
		}
		return asset{name: a.Name, key: a.Key}, obj.Size, nil
	}
	if !filepath.IsAbs(a.Location) {
		return asset{}, 0, fmt.Errorf("artifact %s: location %q is not an absolute path: not published", a.Name, a.Location)
	}
	if dir := filepath.Dir(filepath.Clean(a.Location)); filepath.Base(dir) != fmt.Sprint(id) {
		return asset{}, 0, fmt.Errorf("artifact %s: %q is not in the run's directory: not published", a.Name, a.Location)
	}
	fi, err := os.Stat(a.Location)
	if err != nil {
		return asset{}, 0, fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	return asset{name: a.Name, path: a.Location}, fi.Size(), nil
}

// open streams asset a's section.
func (r *Releases) open(ctx context.Context, a asset) (io.ReadCloser, error) {
	if a.key != "" {
		rc, _, err := r.Artifacts.GetRange(ctx, a.key, a.offset, a.size)
		return rc, err
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, a.offset, a.size), f}, nil
}

func (r *Releases) hashSection(ctx context.Context, a asset) (string, error) {
	rc, err := r.open(ctx, a)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", a.name, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err == nil && n != a.size {
		err = fmt.Errorf("read %d bytes, want %d", n, a.size)
	}
	if err = errors.Join(err, rc.Close()); err != nil {
		return "", fmt.Errorf("hash %s: %w", a.name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
