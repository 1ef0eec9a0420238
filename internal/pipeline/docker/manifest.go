package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

var _ pipeline.PackageLister = (*Engine)(nil)

// dpkgStatus is where dpkg keeps what is installed.
const dpkgStatus = "/var/lib/dpkg/status"

// DpkgStatus returns the image's dpkg status file, read through the
// engine from a container of the image that is never started (nothing of
// the image is resolved on the host). It must be a regular file of at most
// max bytes; pipeline.ErrNoPackageDB when the image has none.
func (e *Engine) DpkgStatus(ctx context.Context, imageID string, max int64) ([]byte, error) {
	created, err := e.c.ContainerCreate(ctx, &container.Config{Image: imageID, Cmd: []string{"/bin/true"},
		Labels: map[string]string{"io.linux-builder.export": "1"}}, nil, nil, nil, "")
	if err != nil {
		return nil, e.lost(ctx, fmt.Errorf("create manifest container: %w", err))
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = e.c.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
	}()
	rc, _, err := e.c.CopyFromContainer(ctx, created.ID, dpkgStatus)
	if cerrdefs.IsNotFound(err) {
		return nil, pipeline.ErrNoPackageDB
	}
	if err != nil {
		return nil, e.lost(ctx, fmt.Errorf("copy %s: %w", dpkgStatus, err))
	}
	defer rc.Close()
	b, err := readOneFile(rc, max)
	if err != nil && !errors.Is(err, pipeline.ErrNoPackageDB) {
		return nil, e.lost(ctx, err)
	}
	return b, err
}

// readOneFile reads the first entry of a tar stream, which must be a
// regular file of at most max bytes.
func readOneFile(r io.Reader, max int64) ([]byte, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, pipeline.ErrNoPackageDB
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dpkgStatus, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s is not a regular file in the image", dpkgStatus)
	}
	if h.Size > max {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", dpkgStatus, h.Size, max)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(tr, max)); err != nil {
		return nil, fmt.Errorf("read %s: %w", dpkgStatus, err)
	}
	return b.Bytes(), nil
}
