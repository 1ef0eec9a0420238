package pipeline

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/linux-builder/linux-builder/internal/run"
)

// How image.tar.zst is made. With an ISO builder, the image is exported
// once: the ISO step tees the export into a spool and the pipeline writes
// a one-layer docker-archive from it (imagearchive.go). docker save (a
// second full pass through the engine) is the fallback whenever that
// can't be done: no ISO builder, an engine that can't tell the image's
// config, an ISO step that failed before the export was whole, an archive
// that could not be written. Either way a successful run, partial or not,
// has the image artifact.

// flatPlan is what build learned for the ISO step's image archive.
type flatPlan struct {
	info ImageInfo
	tag  string
}

// flattenLater reports whether image.tar.zst is to be written from the
// ISO step's export, with the built image's config it needs.
func (r *execution) flattenLater(ctx context.Context, id, tag string) *flatPlan {
	if r.p.cfg.ISO == nil || !r.wantsISO() {
		return nil
	}
	insp, ok := r.p.cfg.Builder.(ImageInspector)
	if !ok {
		return nil
	}
	info, found, err := insp.InspectImage(ctx, id)
	if err != nil || !found {
		if err == nil {
			err = fmt.Errorf("the engine has no image %s", id)
		}
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("image.tar.zst: the built image's config could not be read (%v); docker save writes it", err))
		return nil
	}
	return &flatPlan{info: info, tag: tag}
}

// teeImage sets req.Tee to a spool of the export when the image artifact
// is to be written from it; nil when not (or when the spool could not be
// created: docker save writes the image afterwards).
func (r *execution) teeImage(ctx context.Context, req *ISORequest) *layerSpool {
	if r.flat == nil {
		return nil
	}
	spool, err := newLayerSpool(r.dir, r.p.cfg.Limits.MaxImageBytes)
	if err != nil {
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("image.tar.zst: the ISO step's export can't be kept (%v); docker save writes it", err))
		return nil
	}
	req.Tee = spool
	return spool
}

// flatImageArtifact writes and records image.tar.zst after the ISO step:
// from the spool when the export went through whole (exported), by docker
// save otherwise. The spool is removed before docker save runs.
func (r *execution) flatImageArtifact(ctx context.Context, spool *layerSpool, exported bool) error {
	limit := r.p.cfg.Limits.MaxImageBytes
	switch {
	case spool != nil && spool.over:
		err := fmt.Errorf("the image is larger than the limit of %d bytes", limit)
		return stepFailed("saving the image failed: "+err.Error(), err)
	case spool == nil:
		// teeImage said why.
	case !exported:
		r.logs.Add(ctx, run.LogInfo, "image.tar.zst: the ISO step did not export the whole image; docker save writes it")
	default:
		path := filepath.Join(r.dir, "image.tar.zst")
		size, sum, err := r.writeFlattened(ctx, spool, r.flat.info, r.flat.tag, path)
		if err == nil {
			r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("image.tar.zst: flattened image (one layer) from the ISO step's export, %s (%s uncompressed)",
				megabytes(size), megabytes(spool.n)))
			return r.addArtifact(ctx, Artifact{Name: "image.tar.zst", Type: run.ArtifactImage, Path: path, Size: size, SHA256: sum})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("image.tar.zst: the flattened image could not be written (%v); docker save writes it", err))
	}
	if spool != nil {
		spool.remove()
	}
	return r.saveImageArtifact(ctx)
}

// saveImageArtifact writes image.tar.zst by docker save and records it.
func (r *execution) saveImageArtifact(ctx context.Context) error {
	path := filepath.Join(r.dir, "image.tar.zst")
	size, sum, err := r.saveImage(ctx, r.image, path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return stepFailed("saving the image failed: "+err.Error(), err)
	}
	r.logs.Add(ctx, run.LogInfo, "image.tar.zst: docker save of the image, "+megabytes(size))
	return r.addArtifact(ctx, Artifact{Name: "image.tar.zst", Type: run.ArtifactImage, Path: path, Size: size, SHA256: sum})
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
