package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// The sweep of a retried run removes its earlier attempt's image and the
// containers made of it (a killed worker's export container), on the real
// engine — and nothing of another run.
func TestSweepRunRemovesOnlyThatRunsLeftovers(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stamp := time.Now().UnixNano()
	type leftover struct{ key, ref, container string }
	leave := func(name string) leftover {
		t.Helper()
		l := leftover{key: fmt.Sprintf("%s@%d", name, stamp), ref: fmt.Sprintf("linux-builder-test/sweep-%s:%d", name, stamp)}
		if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": name}), l.ref, []string{"LABEL " + pipeline.LabelRunKey + "=" + l.key}); err != nil {
			t.Fatal(err)
		}
		created, err := e.c.ContainerCreate(ctx, &container.Config{Image: l.ref, Cmd: []string{"/bin/true"},
			Labels: map[string]string{"io.linux-builder.export": "1"}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		l.container = created.ID
		t.Cleanup(func() {
			_ = e.c.ContainerRemove(context.Background(), l.container, container.RemoveOptions{Force: true})
			_, _ = e.c.ImageRemove(context.Background(), l.ref, image.RemoveOptions{Force: true, PruneChildren: true})
		})
		return l
	}
	dead, other := leave("dead"), leave("other")
	n, err := e.SweepRun(ctx, dead.key)
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want the container and the image", n, err)
	}
	if _, err := e.c.ContainerInspect(ctx, dead.container); !cerrdefs.IsNotFound(err) {
		t.Errorf("the dead attempt's container is still there: %v", err)
	}
	if _, err := e.c.ImageInspect(ctx, dead.ref); !cerrdefs.IsNotFound(err) {
		t.Errorf("the dead attempt's image is still there: %v", err)
	}
	if _, err := e.c.ContainerInspect(ctx, other.container); err != nil {
		t.Errorf("another run's container was touched: %v", err)
	}
	if _, err := e.c.ImageInspect(ctx, other.ref); err != nil {
		t.Errorf("another run's image was touched: %v", err)
	}
	// Idempotent: nothing left to sweep.
	if n, err := e.SweepRun(ctx, dead.key); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}
