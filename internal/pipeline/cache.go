package pipeline

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
)

// tenantKey qualifies a cache key by the run's installation: the cache is
// never shared across installations (one tenant's build never satisfies
// another's, and no tenant's files end up in another's release). Runs
// without an installation (the CLI) have their own space, 0.
func tenantKey(installationID int64, key string) string {
	return fmt.Sprintf("installation:%d/%s", installationID, key)
}

// baseImager is a build context that names its base image.
type baseImager interface{ BaseImage() string }

// imageIdentifier is an image builder that can tell an image's identity
// (its content-addressed ID) from a reference.
type imageIdentifier interface {
	ImageID(ctx context.Context, ref string) (string, error)
}

// baseImageID is the ID of the context's base image, or "" when the
// context or the builder cannot tell.
func (r *execution) baseImageID(ctx context.Context, bctx BuildContext) (string, error) {
	b, ok1 := bctx.(baseImager)
	ider, ok2 := r.p.cfg.Builder.(imageIdentifier)
	if !ok1 || !ok2 || b.BaseImage() == "" {
		return "", nil
	}
	id, err := ider.ImageID(ctx, b.BaseImage())
	if err != nil {
		return "", fmt.Errorf("base image %s: %w", b.BaseImage(), err)
	}
	return id, nil
}

// perRun are artifact types every run makes for itself: a cache hit never
// takes them over from the source run (its build log and SHA256SUMS are
// the source run's; the run writes its own when it completes).
var perRun = map[run.ArtifactType]bool{run.ArtifactLog: true, run.ArtifactChecksum: true}

// adoptCached gives the cache-hit run its own copies of the cached
// artifacts: in the artifact store when there is one (a copy under the
// run's keys, so a hit on any machine reads no other machine's disk), in
// its directory otherwise.
func (r *execution) adoptCached(ctx context.Context, cached []Artifact, have map[string]bool) ([]Artifact, error) {
	if r.p.cfg.Artifacts == nil {
		return adoptLocal(r.dir, cached, have)
	}
	return adoptEach(cached, have, func(a Artifact) (Artifact, error) {
		var obj StoredArtifact
		var err error
		if a.Key != "" {
			obj, err = r.p.cfg.Artifacts.Adopt(ctx, r.rec.ID, a.Name, StoredArtifact{Key: a.Key, Size: a.Size, SHA256: a.SHA256})
		} else {
			// Recorded before the artifact store, by a local path: usable
			// on the machine that has it, and uploaded from there.
			dst := filepath.Join(r.dir, a.Name)
			if err = linkOrCopy(a.Path, dst, a.SHA256); err == nil {
				obj, err = r.p.cfg.Artifacts.Upload(ctx, r.rec.ID, a.Name, dst)
				_ = os.Remove(dst)
			}
		}
		a.Path, a.Key, a.Size, a.SHA256 = "", obj.Key, obj.Size, obj.SHA256
		return a, err
	})
}

// adoptLocal gives a cache-hit run its own copies of the cached
// artifacts in its directory dir: a hard link when the source is on the
// same file system, a copy otherwise. Nothing is written outside dir.
func adoptLocal(dir string, cached []Artifact, have map[string]bool) ([]Artifact, error) {
	return adoptEach(cached, have, func(a Artifact) (Artifact, error) {
		dst := filepath.Join(dir, a.Name)
		err := linkOrCopy(a.Path, dst, a.SHA256)
		a.Path = dst
		return a, err
	})
}

// adoptEach adopts the cached artifacts a run takes over with adopt: not
// those the run already has (have, by name), nor per-run ones; an image
// reference (a registry name, not a file) is taken as it is; a file's
// name must be a plain file name.
func adoptEach(cached []Artifact, have map[string]bool, adopt func(Artifact) (Artifact, error)) ([]Artifact, error) {
	var out []Artifact
	for _, a := range cached {
		if perRun[a.Type] || have[a.Name] {
			continue
		}
		if a.Type == run.ArtifactImageRef {
			out = append(out, a)
			continue
		}
		if a.Name == "" || a.Name != filepath.Base(a.Name) || a.Name == "." || a.Name == ".." {
			return nil, fmt.Errorf("cached artifact name %q is not a file name", a.Name)
		}
		a, err := adopt(a)
		if err != nil {
			return nil, fmt.Errorf("cached artifact %s: %w", a.Name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// linkOrCopy makes dst the same content as src: a hard link, or a copy
// (checked against sum when it is known) when linking is not possible.
// An existing dst (a retried job) is replaced.
func linkOrCopy(src, dst, sum string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return fmt.Errorf("copy: %w", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && got != sum {
		return fmt.Errorf("copy has sha256 %s, the cache recorded %s", got, sum)
	}
	return os.Rename(tmp, dst)
}
