package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// anyEngine connects to the engine without needing a base image: the
// prune tests make their own small images.
func anyEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := Connect(context.Background())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// buildSmall builds FROM from with the classic builder, as the pipeline
// does: one COPY of size random bytes (a layer of its own), then labels
// (their own step). tag may be empty (a dangling image).
func buildSmall(t *testing.T, e *Engine, from, tag string, size int, labels map[string]string) string {
	t.Helper()
	blob := make([]byte, size)
	_, _ = rand.Read(blob)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, body := range map[string][]byte{"Dockerfile": []byte("FROM " + from + "\nCOPY blob /blob-" + fmt.Sprint(time.Now().UnixNano()) + "\n"), "blob": blob} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	opts := build.ImageBuildOptions{Labels: labels, Remove: true, ForceRemove: true, Dockerfile: "Dockerfile", Version: build.BuilderV1}
	if tag != "" {
		opts.Tags = []string{tag}
	}
	resp, err := e.c.ImageBuild(context.Background(), &ctxTar, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var id string
	dec := json.NewDecoder(resp.Body)
	for {
		var msg streamMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if f := msg.failure(); f != "" {
			t.Fatalf("build FROM %s: %s", from, f)
		}
		var aux struct{ ID string }
		if msg.Aux != nil && json.Unmarshal(msg.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	}
	if id == "" {
		t.Fatalf("build FROM %s: no image ID", from)
	}
	t.Cleanup(func() {
		_, _ = e.c.ImageRemove(context.Background(), id, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return id
}

// endedKeys answers PruneOptions.Ended as a database that knows the runs
// of keys to have ended (and no other run).
func endedKeys(keys ...string) func(context.Context, []string) (map[string]bool, error) {
	return func(_ context.Context, found []string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, f := range found {
			for _, k := range keys {
				if f == k {
					out[f] = true
				}
			}
		}
		return out, nil
	}
}

func exists(t *testing.T, e *Engine, ref string) bool {
	t.Helper()
	_, err := e.c.ImageInspect(context.Background(), ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// Prune on the real engine: what is not the bot's (a base image, another
// image, an untagged image built on the base), an in-flight run's image
// and container, and the system image it is built on survive; a
// superseded system image with its layer cache and a leftover export
// container go first; then, over the budget, the oldest of the bot's
// images. A dry run reports the same and removes nothing.
func TestPruneKeepsTheBotWithinItsBudget(t *testing.T) {
	e := anyEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scopeKey := "lbgc-test"
	scope := scopeKey + "=" + stamp
	repo := "linux-builder-test/prune-" + stamp
	const blob = 256 << 10

	// Not the bot's: the base (as `bot base import` makes it) and another
	// image, both imported; an untagged image built on the base.
	base, other := repo+":base", repo+":other"
	for _, ref := range []string{base, other} {
		if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": ref}), ref, []string{"LABEL " + scope}); err != nil {
			t.Fatal(err)
		}
		ref := ref
		t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true}) })
	}
	strangerDangling := buildSmall(t, e, base, "", blob, map[string]string{scopeKey: stamp})

	sysTag := repo + ":system"
	sysLabels := func(built string) map[string]string {
		return map[string]string{pipeline.LabelSystemBuilt: built, pipeline.LabelSystemBaseID: "sha256:base", scopeKey: stamp}
	}
	runLabels := func(key string) map[string]string {
		return map[string]string{pipeline.LabelRunKey: key, "io.linux-builder.run-id": key, scopeKey: stamp}
	}
	// The old system image, a spec built on it whose image the run
	// removed (its layer cache stays), then the system image rebuilt: the
	// old one is superseded.
	sysOld := buildSmall(t, e, base, sysTag, blob, sysLabels("2026-01-01T00:00:00Z"))
	oldSpec := buildSmall(t, e, sysTag, repo+":1", blob, runLabels("1@old"))
	if err := e.Remove(ctx, oldSpec); err != nil {
		t.Fatal(err)
	}
	sysNew := buildSmall(t, e, base, sysTag, blob, sysLabels("2026-02-01T00:00:00Z"))
	if exists(t, e, sysOld) == false {
		t.Fatal("the superseded system image is gone already")
	}
	// A kept run's image, then an in-flight run's, a second apart.
	kept := buildSmall(t, e, sysTag, repo+":2", blob, runLabels("2@kept"))
	time.Sleep(1100 * time.Millisecond)
	flying := buildSmall(t, e, sysTag, repo+":3", blob, runLabels("3@flying"))
	exportOf := func(ref string) string {
		c, err := e.c.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"/bin/true"}, Labels: map[string]string{LabelExport: "1"}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = e.c.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		})
		return c.ID
	}
	leftover, flyingExport := exportOf(repo+":2"), exportOf(repo+":3")
	// Someone else's container of the other image.
	strangerC, err := e.c.ContainerCreate(ctx, &container.Config{Image: other, Cmd: []string{"/bin/true"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.c.ContainerRemove(context.Background(), strangerC.ID, container.RemoveOptions{Force: true})
	})

	// The database knows runs 1 and 2 have ended, 3 not.
	opt := PruneOptions{Budget: 1 << 30, Repos: []string{repo}, Ended: endedKeys("1@old", "2@kept"), MinAge: -1, Scope: scope}
	containerGone := func(id string) bool {
		_, err := e.c.ContainerInspect(ctx, id)
		return cerrdefs.IsNotFound(err)
	}
	survivors := func(step string, refs ...string) {
		t.Helper()
		for _, ref := range refs {
			if !exists(t, e, ref) {
				t.Errorf("%s: %s was removed", step, ref)
			}
		}
		for _, id := range []string{flyingExport, strangerC.ID} {
			if containerGone(id) {
				t.Errorf("%s: container %s was removed", step, shortID(id))
			}
		}
	}

	// Within the budget: only the leftovers go. The dry run first.
	dry := opt
	dry.DryRun = true
	want, err := e.Prune(ctx, dry)
	if err != nil {
		t.Fatal(err)
	}
	if !exists(t, e, sysOld) || containerGone(leftover) {
		t.Fatal("the dry run removed something")
	}
	got, err := e.Prune(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leftovers: dry run %+v, prune %+v", want, got)
	if got.Containers != 1 || want.Containers != 1 || !containerGone(leftover) {
		t.Errorf("removed %d containers (dry run %d); want the leftover export container", got.Containers, want.Containers)
	}
	if exists(t, e, sysOld) {
		t.Error("the superseded system image is still there")
	}
	// The superseded system image, its two layers and the old spec's
	// cache layer (its COPY step): 4 images, ~3 blobs.
	if got.Images < 3 || got.ImageBytes < 2*blob || got.Images != want.Images || got.ImageBytes != want.ImageBytes {
		t.Errorf("freed %d images, %d bytes (dry run said %d, %d); want the superseded system image and its cache", got.Images, got.ImageBytes, want.Images, want.ImageBytes)
	}
	survivors("within the budget", base, other, strangerDangling, sysNew, kept, flying)

	// Over the budget (0): the kept run's image goes; the in-flight run's
	// image and the system image under it stay, and nothing not the bot's.
	opt.Budget = 0
	got, err = e.Prune(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("over the budget: %+v", got)
	if exists(t, e, kept) {
		t.Error("the kept run's image survived a budget of 0")
	}
	if got.Images < 1 || got.ImageBytes < blob || got.After >= got.Before {
		t.Errorf("freed %+v", got)
	}
	survivors("over the budget", base, other, strangerDangling, sysNew, flying)

	// Once the run has ended, and no build is busy, its image and the
	// system image go too; the base and the stranger's images stay.
	if err := e.c.ContainerRemove(ctx, flyingExport, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	opt.Ended = endedKeys("1@old", "2@kept", "3@flying")
	got, err = e.Prune(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idle: %+v", got)
	if exists(t, e, flying) || exists(t, e, sysNew) {
		t.Error("the ended run's image or the system image survived a budget of 0")
	}
	if got.After != 0 {
		t.Errorf("the bot still has %d bytes", got.After)
	}
	for _, ref := range []string{base, other, strangerDangling} {
		if !exists(t, e, ref) {
			t.Errorf("%s (not the bot's) was removed", ref)
		}
	}
}

// Young images are a build in progress (another process's, whose run is
// not in the store yet): MinAge keeps them whatever the budget, and a busy
// engine keeps its tagged system images.
func TestPruneSparesYoungImagesAndBusySystemImages(t *testing.T) {
	e := anyEngine(t)
	ctx := context.Background()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scope := "lbgc-test=" + stamp
	repo := "linux-builder-test/prune-young-" + stamp
	base := repo + ":base"
	if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": "x"}), base, []string{"LABEL " + scope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), base, image.RemoveOptions{Force: true}) })
	sys := buildSmall(t, e, base, repo+":system", 64<<10, map[string]string{pipeline.LabelSystemBuilt: "x", "lbgc-test": stamp})
	res, err := e.Prune(ctx, PruneOptions{Budget: 0, Repos: []string{repo}, Scope: scope})
	if err != nil || res.Images != 0 || !exists(t, e, sys) {
		t.Fatalf("a young image was pruned: %+v %v", res, err)
	}
	res, err = e.Prune(ctx, PruneOptions{Budget: 0, Repos: []string{repo}, Scope: scope, MinAge: -1, Busy: true})
	if err != nil || res.Images != 0 || !exists(t, e, sys) {
		t.Fatalf("a tagged system image was pruned while busy: %+v %v", res, err)
	}
	if res.Before < 64<<10 {
		t.Errorf("the bot's bytes: %d", res.Before)
	}
	res, err = e.Prune(ctx, PruneOptions{Budget: 0, Repos: []string{repo}, Scope: scope, MinAge: -1})
	if err != nil || exists(t, e, sys) || !exists(t, e, base) {
		t.Fatalf("idle prune: %+v %v", res, err)
	}
}

// Ownership by tags: a pushed run's image carries two of the bot's tags
// (<repo>:<id> and <push repo>:run-<id>) and goes with both; an image a
// person built on a run's image and tagged in the bot's repository under
// another run's id (it inherits the first run's key) is not the bot's,
// nor is the run's image then (a child); a dangling image built on a run's
// image is the layer cache and goes.
func TestPruneOwnsOnlyTheBotsTags(t *testing.T) {
	e := anyEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scopeKey := "lbgc-test"
	scope := scopeKey + "=" + stamp
	repo := "linux-builder-test/own-" + stamp
	push := "localhost:5999/linux-builder-test/push-" + stamp
	base := repo + ":base"
	if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": "x"}), base, []string{"LABEL " + scope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), base, image.RemoveOptions{Force: true}) })
	runLabels := func(id string) map[string]string {
		return map[string]string{pipeline.LabelRunKey: id + "@x", "io.linux-builder.run-id": id, scopeKey: stamp}
	}
	pushed := buildSmall(t, e, base, repo+":5", 64<<10, runLabels("5"))
	if err := e.c.ImageTag(ctx, repo+":5", push+":run-5"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), push+":run-5", image.RemoveOptions{Force: true}) })
	buildSmall(t, e, base, repo+":6", 64<<10, runLabels("6"))
	// A person's image in the bot's repository, built on run 6's.
	mine := buildSmall(t, e, repo+":6", repo+":60", 64<<10, nil)
	cache := buildSmall(t, e, base, repo+":8", 64<<10, runLabels("8"))
	dangling := buildSmall(t, e, repo+":8", "", 64<<10, nil)
	opt := PruneOptions{Budget: 0, MinAge: -1, Scope: scope, Repos: []string{repo, push}, Ended: endedKeys("5@x", "6@x", "8@x")}
	res, err := e.Prune(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune: %+v", res)
	if exists(t, e, pushed) || exists(t, e, push+":run-5") {
		t.Error("the pushed run's image (two of the bot's tags) survived a budget of 0")
	}
	if !exists(t, e, mine) || !exists(t, e, repo+":6") {
		t.Error("a person's image tagged in the bot's repository (or the run image it is built on) was removed")
	}
	if exists(t, e, dangling) || exists(t, e, cache) {
		t.Error("the layer cache on an ended run's image, or that image, survived a budget of 0")
	}
	if !exists(t, e, base) {
		t.Error("the base was removed")
	}
}
