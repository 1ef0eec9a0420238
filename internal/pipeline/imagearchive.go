package pipeline

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The image artifact without a second pass through the engine: `docker
// save` of a whole image costs the engine as much CPU as the build of a
// spec's own layer, and the ISO step exports the same image anyway. So
// the ISO step tees its export (the container's flattened root file
// system, byte for byte) into a layerSpool, and the pipeline writes
// image.tar.zst as a docker-archive of one layer: that file system, with
// the built image's config (platform, Env, Cmd, labels...). `docker load`
// gives an image that runs like the built one, in one layer.
//
// The spool only copies bytes; nothing here parses the export: it is the
// layer's content as the engine produced it, and `docker load` is the
// one that reads it.

// errImageTooLarge is the spool's write error past its cap.
var errImageTooLarge = errors.New("the image is over its size limit")

// layerSpool receives the export's bytes: it writes them to a file in the
// run's directory, counting and hashing them (the layer's diff_id), up to
// max bytes.
type layerSpool struct {
	f    *os.File
	h    hash.Hash
	n    int64
	max  int64
	over bool
}

// layerSpoolName is the spool's file in the run's directory.
const layerSpoolName = "image-layer.tar.part"

func newLayerSpool(dir string, maxBytes int64) (*layerSpool, error) {
	f, err := os.OpenFile(filepath.Join(dir, layerSpoolName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image layer spool: %w", err)
	}
	return &layerSpool{f: f, h: sha256.New(), max: maxBytes}, nil
}

// Write implements io.Writer; a write past the cap fails whole, and the
// spool stays over.
func (s *layerSpool) Write(p []byte) (int, error) {
	if s.over || int64(len(p)) > s.max-s.n {
		s.over = true
		return 0, errImageTooLarge
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("image layer spool: %w", err)
	}
	return n, nil
}

// diffID is the hex sha256 of the bytes written.
func (s *layerSpool) diffID() string { return hex.EncodeToString(s.h.Sum(nil)) }

// remove closes and deletes the spool's file.
func (s *layerSpool) remove() {
	s.f.Close()
	_ = os.Remove(s.f.Name())
}

// flatImage is a one-layer image to write as a docker-archive.
type flatImage struct {
	Info      ImageInfo // the built image: ID, platform, config, labels
	Tag       string    // repo:tag the archive names
	Layer     io.Reader // the layer's tar (the image's flattened export)
	LayerSize int64
	DiffID    string // hex sha256 of the layer's bytes
}

// imageConfig is the archive's image config: the built image's platform
// and run-time config over the one layer.
func (img flatImage) imageConfig() ocispec.Image {
	var created *time.Time
	if !img.Info.Created.IsZero() {
		c := img.Info.Created.UTC()
		created = &c
	}
	c := img.Info.Config
	return ocispec.Image{
		Created:  created,
		Platform: ocispec.Platform{Architecture: img.Info.Architecture, OS: img.Info.OS, Variant: img.Info.Variant},
		Config: ocispec.ImageConfig{
			User: c.User, ExposedPorts: set(c.ExposedPorts), Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
			Volumes: set(c.Volumes), WorkingDir: c.WorkingDir, Labels: img.Info.Labels, StopSignal: c.StopSignal,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.NewDigestFromEncoded(digest.SHA256, img.DiffID)}},
		History: []ocispec.History{{
			Created:   created,
			CreatedBy: "linux-builder: flattened export of image " + img.Info.ID,
			Comment:   "the root file system of " + img.Info.ID + " as one layer",
		}},
	}
}

func set(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// manifestEntry is one image of a docker-archive's manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// writeImageArchive writes img to w as a docker-archive (what `docker
// load` reads): <diff>/layer.tar, <config sha256>.json, manifest.json and
// repositories.
func writeImageArchive(w io.Writer, img flatImage) error {
	if len(img.DiffID) != sha256.Size*2 {
		return fmt.Errorf("image archive: diff id %q is not a sha256", img.DiffID)
	}
	config, err := json.Marshal(img.imageConfig())
	if err != nil {
		return fmt.Errorf("image archive: config: %w", err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := img.DiffID + "/layer.tar"
	manifest, err := json.Marshal([]manifestEntry{{Config: configName, RepoTags: []string{img.Tag}, Layers: []string{layerName}}})
	if err != nil {
		return fmt.Errorf("image archive: manifest: %w", err)
	}
	repo, tag := splitTag(img.Tag)
	repositories, err := json.Marshal(map[string]map[string]string{repo: {tag: img.DiffID}})
	if err != nil {
		return fmt.Errorf("image archive: repositories: %w", err)
	}
	mtime := img.Info.Created.UTC()
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: img.DiffID + "/", Mode: 0o755, ModTime: mtime}); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: layerName, Mode: 0o644, Size: img.LayerSize, ModTime: mtime}); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	if n, err := io.CopyN(tw, img.Layer, img.LayerSize); err != nil {
		return fmt.Errorf("image archive: layer (%d of %d bytes): %w", n, img.LayerSize, err)
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{configName, config}, {"manifest.json", manifest}, {"repositories", repositories}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: mtime}); err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return fmt.Errorf("image archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	return nil
}

// splitTag splits repo:tag (the repo may name a registry with a port).
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

// writeFlattened writes path (image.tar.zst) from the spool: the image
// archive through zstd, capped like saveImage, with the file's size and
// sha256.
func (r *execution) writeFlattened(ctx context.Context, spool *layerSpool, info ImageInfo, tag, path string) (int64, string, error) {
	if _, err := spool.f.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	img := flatImage{Info: info, Tag: tag, Layer: ctxReader{ctx: ctx, r: spool.f}, LayerSize: spool.n, DiffID: spool.diffID()}
	return r.writeCompressed(ctx, path, r.p.cfg.Limits.MaxImageBytes, func(w io.Writer) error { return writeImageArchive(w, img) })
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
