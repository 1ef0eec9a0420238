package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

var _ pipeline.RunSweeper = (*Engine)(nil)

// SweepRun removes what an earlier attempt of a run left in the engine:
// the containers and images labelled pipeline.LabelRunKey=key (export and
// manifest containers carry their image's labels). Only that run's are
// touched; the layer cache (untagged parents) stays. It returns how many
// containers and images it removed.
func (e *Engine) SweepRun(ctx context.Context, key string) (int, error) {
	label := filters.NewArgs(filters.Arg("label", pipeline.LabelRunKey+"="+key))
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Filters: label})
	if err != nil {
		return 0, fmt.Errorf("sweep: list containers: %w", err)
	}
	var n int
	var errs []error
	for _, c := range cs {
		if err := e.c.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("sweep: remove container %s: %w", c.ID, err))
			continue
		}
		n++
	}
	is, err := e.c.ImageList(ctx, image.ListOptions{Filters: label})
	if err != nil {
		return n, errors.Join(append(errs, fmt.Errorf("sweep: list images: %w", err))...)
	}
	for _, im := range is {
		if _, err := e.c.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: false}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("sweep: remove image %s: %w", im.ID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
