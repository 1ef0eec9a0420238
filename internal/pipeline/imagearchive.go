package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
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

	"github.com/klauspost/compress/zstd"
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

// The spool compresses as the export streams, so image.tar.zst costs
// little more than the ISO's squashfs, beside which it runs, instead of a
// zstd pass of its own after it. The file is a series of zstd frames that
// decompress, one after the other, to the docker-archive:
//
//	[head: the tar headers of <diff>/ and <diff>/layer.tar]
//	[skippable frame: padding up to spoolHeadRoom bytes]
//	[the layer's bytes, compressed while they stream]
//	[tail: the layer's tar padding, config, manifest.json, repositories, the tar's end]
//
// The head needs the layer's size, known only at the end, so the layer is
// written from spoolHeadRoom on and the head is written last into the room
// before it; a skippable frame (which every zstd decoder passes over)
// fills what the head leaves.
const spoolHeadRoom = 16 << 10

// layerSpool receives the export's bytes: it compresses them into a file
// in the run's directory, from spoolHeadRoom on, counting and hashing them
// (the layer's diff_id), up to max bytes.
type layerSpool struct {
	f    *os.File
	enc  *zstd.Encoder
	h    hash.Hash
	n    int64
	max  int64
	over bool
	err  error // the encoder's or the file's first write error
}

// layerSpoolName is the spool's file in the run's directory.
const layerSpoolName = "image-layer.tar.zst.part"

func newLayerSpool(dir string, maxBytes int64) (*layerSpool, error) {
	f, err := os.OpenFile(filepath.Join(dir, layerSpoolName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image layer spool: %w", err)
	}
	s := &layerSpool{f: f, h: sha256.New(), max: maxBytes}
	if _, err := f.Seek(spoolHeadRoom, io.SeekStart); err != nil {
		s.remove()
		return nil, fmt.Errorf("image layer spool: %w", err)
	}
	if s.enc, err = newImageEncoder(f); err != nil {
		s.remove()
		return nil, fmt.Errorf("image layer spool: %w", err)
	}
	return s, nil
}

// newImageEncoder is image.tar.zst's compression (docker save's too).
func newImageEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
}

// Write implements io.Writer; a write past the cap fails whole, and the
// spool stays over.
func (s *layerSpool) Write(p []byte) (int, error) {
	if s.over || int64(len(p)) > s.max-s.n {
		s.over = true
		return 0, errImageTooLarge
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.enc.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		s.err = fmt.Errorf("image layer spool: %w", err)
		return n, s.err
	}
	return n, nil
}

// diffID is the hex sha256 of the bytes written.
func (s *layerSpool) diffID() string { return hex.EncodeToString(s.h.Sum(nil)) }

// remove stops the encoder, closes and deletes the spool's file.
func (s *layerSpool) remove() {
	if s.enc != nil {
		s.enc.Reset(io.Discard)
		s.enc.Close()
	}
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
	head, tail, err := archiveParts(img)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	if n, err := io.CopyN(w, img.Layer, img.LayerSize); err != nil {
		return fmt.Errorf("image archive: layer (%d of %d bytes): %w", n, img.LayerSize, err)
	}
	if _, err := w.Write(tail); err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	return nil
}

// archiveParts returns the docker-archive's bytes before the layer's
// content (the headers of <diff>/ and <diff>/layer.tar, sized
// img.LayerSize) and after it (the layer's padding to the tar's 512-byte
// blocks, the config, manifest.json, repositories and the tar's end).
// img.Layer is not read.
func archiveParts(img flatImage) (head, tail []byte, err error) {
	if len(img.DiffID) != sha256.Size*2 {
		return nil, nil, fmt.Errorf("image archive: diff id %q is not a sha256", img.DiffID)
	}
	config, err := json.Marshal(img.imageConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("image archive: config: %w", err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := img.DiffID + "/layer.tar"
	manifest, err := json.Marshal([]manifestEntry{{Config: configName, RepoTags: []string{img.Tag}, Layers: []string{layerName}}})
	if err != nil {
		return nil, nil, fmt.Errorf("image archive: manifest: %w", err)
	}
	repo, tag := splitTag(img.Tag)
	repositories, err := json.Marshal(map[string]map[string]string{repo: {tag: img.DiffID}})
	if err != nil {
		return nil, nil, fmt.Errorf("image archive: repositories: %w", err)
	}
	mtime := img.Info.Created.UTC()
	// tar.Writer writes a header as soon as it is given: the head is the
	// two headers, and a writer of its own writes the entries after the
	// layer (a tar's headers do not depend on what came before).
	var hb bytes.Buffer
	tw := tar.NewWriter(&hb)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: img.DiffID + "/", Mode: 0o755, ModTime: mtime}); err != nil {
		return nil, nil, fmt.Errorf("image archive: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: layerName, Mode: 0o644, Size: img.LayerSize, ModTime: mtime}); err != nil {
		return nil, nil, fmt.Errorf("image archive: %w", err)
	}
	var tb bytes.Buffer
	tb.Write(make([]byte, (blockSize-img.LayerSize%blockSize)%blockSize))
	tw = tar.NewWriter(&tb)
	for _, f := range []struct {
		name string
		body []byte
	}{{configName, config}, {"manifest.json", manifest}, {"repositories", repositories}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: mtime}); err != nil {
			return nil, nil, fmt.Errorf("image archive: %w", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, nil, fmt.Errorf("image archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("image archive: %w", err)
	}
	return hb.Bytes(), tb.Bytes(), nil
}

// blockSize is a tar's block.
const blockSize = 512

// splitTag splits repo:tag (the repo may name a registry with a port).
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

// writeFlattened makes path (image.tar.zst) of the spool: the layer is
// already compressed in it; the tail is appended and the head written
// into the room before the layer, then the file is renamed. The archive's
// bytes are capped like saveImage's; the file's size and sha256 are
// returned. The spool is spent either way.
func (r *execution) writeFlattened(ctx context.Context, spool *layerSpool, info ImageInfo, tag, path string) (int64, string, error) {
	if spool.err != nil {
		return 0, "", spool.err
	}
	err := spool.enc.Close()
	spool.enc = nil
	if err != nil {
		return 0, "", fmt.Errorf("image layer spool: zstd: %w", err)
	}
	img := flatImage{Info: info, Tag: tag, LayerSize: spool.n, DiffID: spool.diffID()}
	head, tail, err := archiveParts(img)
	if err != nil {
		return 0, "", err
	}
	if limit := r.p.cfg.Limits.MaxImageBytes; int64(len(head)+len(tail)) > limit-spool.n {
		return 0, "", fmt.Errorf("the image is larger than the limit of %d bytes", limit)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0, "", fmt.Errorf("zstd: %w", err)
	}
	headFrame, tailFrame := enc.EncodeAll(head, nil), enc.EncodeAll(tail, nil)
	enc.Close()
	pad := spoolHeadRoom - len(headFrame) - skippableHeader
	if pad < 0 {
		return 0, "", fmt.Errorf("image archive: the head's %d bytes do not fit the spool's room of %d", len(headFrame), spoolHeadRoom)
	}
	if _, err := spool.f.Write(tailFrame); err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	room := append(headFrame, skippableFrame(pad)...)
	if _, err := spool.f.WriteAt(room, 0); err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	if _, err := spool.f.Seek(0, io.SeekStart); err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	sum := sha256.New()
	size, err := io.Copy(sum, ctxReader{ctx: ctx, r: spool.f})
	if err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	if err := spool.f.Close(); err != nil {
		return 0, "", fmt.Errorf("image layer spool: %w", err)
	}
	if err := os.Rename(spool.f.Name(), path); err != nil {
		return 0, "", fmt.Errorf("rename %s: %w", spool.f.Name(), err)
	}
	return size, hex.EncodeToString(sum.Sum(nil)), nil
}

// skippableHeader is a zstd skippable frame's magic and length.
const skippableHeader = 8

// skippableFrame is a zstd skippable frame (magic 0x184D2A50) with n zero
// bytes of content: decoders pass over it.
func skippableFrame(n int) []byte {
	b := make([]byte, skippableHeader+n)
	binary.LittleEndian.PutUint32(b, 0x184D2A50)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	return b
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
