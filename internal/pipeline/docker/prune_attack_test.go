package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// Review findings (adversarial review of the gc/prune change). These
// tests state what must hold; they FAIL on the code as reviewed.

// TestAttackPruneRemovesAHumansImageBuiltOnTheBots: a person builds
// their own image FROM a run's kept image (docker build -t myapp:1, FROM
// linux-builder:42). Docker copies the parent's labels into the child,
// so myapp:1 carries io.linux-builder.run-key and the other bot labels:
// Prune takes it for the bot's and deletes it once over budget. An image
// the bot did not build must stay whatever labels it inherited.
func TestAttackPruneRemovesAHumansImageBuiltOnTheBots(t *testing.T) {
	e := anyEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scopeKey := "lbgc-attack"
	scope := scopeKey + "=" + stamp
	repo := "linux-builder-test/attack-" + stamp
	base := repo + ":base"
	if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": "x"}), base, []string{"LABEL " + scope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), base, image.RemoveOptions{Force: true}) })
	runImage := buildSmall(t, e, base, repo+":42", 64<<10,
		map[string]string{pipeline.LabelRunKey: "42@kept", "io.linux-builder.run-id": "42", scopeKey: stamp})
	_ = runImage
	// The person's image: no label of its own; it inherits the run's.
	human := buildSmall(t, e, repo+":42", "myapp-"+stamp+":1", 64<<10, nil)
	// The run has ended: only its image's ownership protects the person's.
	if _, err := e.Prune(ctx, PruneOptions{Budget: 0, MinAge: -1, Scope: scope, Repos: []string{repo}, Ended: endedKeys("42@kept")}); err != nil {
		t.Logf("prune: %v", err)
	}
	if !exists(t, e, human) {
		t.Fatal("ATTACK: Prune deleted a person's image (myapp:1, built FROM a run's image) because it inherited the bot's labels")
	}
}

// TestAttackPruneUntagsAHumansTagOnARunImage: a person tags a kept run's
// image for their own use (docker tag linux-builder:42 myorg/os:v1).
// Prune removes the image with Force because it has two tags, deleting
// the person's tag and the image with it.
func TestAttackPruneUntagsAHumansTagOnARunImage(t *testing.T) {
	e := anyEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scopeKey := "lbgc-attack"
	scope := scopeKey + "=" + stamp
	repo := "linux-builder-test/attack-" + stamp
	base := repo + ":base"
	if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": "x"}), base, []string{"LABEL " + scope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), base, image.RemoveOptions{Force: true}) })
	buildSmall(t, e, base, repo+":42", 64<<10,
		map[string]string{pipeline.LabelRunKey: "42@kept", "io.linux-builder.run-id": "42", scopeKey: stamp})
	humanTag := "myorg-" + stamp + "/os:v1"
	if err := e.c.ImageTag(ctx, repo+":42", humanTag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), humanTag, image.RemoveOptions{Force: true}) })
	if _, err := e.Prune(ctx, PruneOptions{Budget: 0, MinAge: -1, Scope: scope, Repos: []string{repo}, Ended: endedKeys("42@kept")}); err != nil {
		t.Logf("prune: %v", err)
	}
	if !exists(t, e, humanTag) {
		t.Fatal("ATTACK: Prune force-removed an image a person had tagged (myorg/os:v1), deleting their tag")
	}
}

// TestAttackPruneKillsAnotherDeploymentsInFlightRun: two deployments (or
// `bot serve` and a `bot build` with its SQLite database) share one
// engine, which pipeline.RunKey is designed for. Prune's InFlight only
// knows its own database's runs, so another database's run in flight —
// its image built over MinAge ago and its export container (state
// "created" while the ISO or disk step streams it) — looks like a
// leftover: the container is force-removed mid-export and the image
// deleted. A run key Prune cannot vouch for is not its to remove.
func TestAttackPruneKillsAnotherDeploymentsInFlightRun(t *testing.T) {
	e := anyEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stamp := fmt.Sprint(time.Now().UnixNano())
	scopeKey := "lbgc-attack"
	scope := scopeKey + "=" + stamp
	repo := "linux-builder-test/attack-" + stamp
	base := repo + ":base"
	if err := e.Import(ctx, rootfs(t, map[string]string{"etc/hostname": "x"}), base, []string{"LABEL " + scope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.c.ImageRemove(context.Background(), base, image.RemoveOptions{Force: true}) })
	// The other database's run 7, in flight there.
	otherKey := "7@20261201T054000.000000"
	buildSmall(t, e, base, repo+":7", 64<<10,
		map[string]string{pipeline.LabelRunKey: otherKey, "io.linux-builder.run-id": "7", scopeKey: stamp})
	c, err := e.c.ContainerCreate(ctx, &container.Config{Image: repo + ":7", Cmd: []string{"/bin/true"},
		Labels: map[string]string{LabelExport: "1"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.c.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	// This deployment has its own run in flight (so it is Busy), not 7;
	// the other run's export has been streaming for more than MinAge.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	// Its database knows its own run 3 (in flight) and nothing of 7.
	if _, err := e.Prune(ctx, PruneOptions{Budget: 0, Repos: []string{repo}, Ended: endedKeys(), Busy: true, Now: later, Scope: scope}); err != nil {
		t.Logf("prune: %v", err)
	}
	if _, err := e.c.ContainerInspect(ctx, c.ID); err != nil {
		t.Fatalf("ATTACK: Prune force-removed another database's in-flight export container: %v", err)
	}
	if !exists(t, e, repo+":7") {
		t.Fatal("ATTACK: Prune deleted another database's in-flight run image")
	}
}
