package pipeline_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/klauspost/compress/zstd"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// teeDockerfile is a small image made from the offline base without the
// network: a file, an env var, a label, a working directory, and a file
// of the base deleted (a flattened image must not bring it back).
const teeDockerfile = `FROM debian:bookworm
ENV LB_TEE_GREETING=hello-from-env
LABEL io.linux-builder.test=tee
RUN echo flattened-ok > /tee-check && rm /etc/motd
WORKDIR /srv
CMD ["/bin/sh", "-c", "cat /tee-check; echo $LB_TEE_GREETING; pwd; test -e /etc/motd || echo motd-gone"]
`

type dockerfileContext string

func (d dockerfileContext) ContextHash() string { return fmt.Sprintf("tee-%d", time.Now().UnixNano()) }
func (d dockerfileContext) SpecHash() string    { return "tee" }
func (d dockerfileContext) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(d))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, string(d)); err != nil {
		return err
	}
	return tw.Close()
}

type dockerfileRenderer struct{ df string }

func (r dockerfileRenderer) Render(*spec.Document, spec.Diagnostics) (pipeline.BuildContext, spec.Diagnostics, error) {
	return dockerfileContext(r.df), nil, nil
}

// exportISO is the ISO step's export alone: it streams the image's export
// from the real engine into the request's tee, as iso.Builder does, and
// writes a stand-in ISO.
type exportISO struct{ eng *docker.Engine }

func (x exportISO) Build(ctx context.Context, req pipeline.ISORequest, _ func(string)) error {
	if req.Tee == nil {
		return errors.New("the pipeline gave the ISO step no tee")
	}
	if err := x.eng.Export(ctx, req.Image, req.Tee); err != nil {
		return err
	}
	return os.WriteFile(req.Output, []byte("not an iso"), 0o644)
}

// The image artifact made from the ISO step's export loads into the real
// engine and runs like the built image: its file, env, working directory,
// labels, the base's deleted file still gone; one layer.
func TestFlattenedImageLoadsAndRuns(t *testing.T) {
	eng := realEngine(t)
	db := storetest.SQLite(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	repo := fmt.Sprintf("linux-builder-test-tee-%d", os.Getpid())
	watch := &logWatch{}
	p, err := pipeline.New(pipeline.Config{
		Store: pipelinestore.Store{DB: db}, Renderer: dockerfileRenderer{teeDockerfile}, Builder: eng, ISO: exportISO{eng},
		Reporters: []pipeline.Reporter{watch}, ArtifactsDir: t.TempDir(), ImageRepo: repo,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := createRun(t, db, "tee.yaml", []byte("base: debian\n"))
	if err := p.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	rn, _ := db.Run(ctx, id)
	if rn.Status != run.StatusSuccess {
		t.Fatalf("run %s (%s): %s\n%s", rn.Status, rn.Step, rn.FailureReason, strings.Join(watch.lines, "\n"))
	}
	if !slices.ContainsFunc(watch.lines, func(l string) bool {
		return strings.Contains(l, "flattened image (one layer) from the ISO step's export")
	}) {
		t.Fatalf("the image was not written from the export:\n%s", strings.Join(watch.lines, "\n"))
	}
	arts, _ := db.Artifacts(ctx, id)
	var art store.Artifact
	for _, a := range arts {
		if a.Name == "image.tar.zst" {
			art = a
		}
	}
	f, err := os.Open(art.Location)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	c := eng.Client()
	tag := fmt.Sprintf("%s:%d", repo, id)
	t.Cleanup(func() {
		_, _ = c.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	if out := loadImage(ctx, t, c, dec); !strings.Contains(out, "Loaded image: "+tag) {
		t.Fatalf("docker load said:\n%s", out)
	}
	insp, err := c.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if len(insp.RootFS.Layers) != 1 || insp.Config == nil || insp.Config.Labels["io.linux-builder.test"] != "tee" ||
		insp.Config.Labels["io.linux-builder.run-id"] != fmt.Sprint(id) || !slices.Contains(insp.Config.Env, "LB_TEE_GREETING=hello-from-env") {
		t.Fatalf("loaded image: %d layers, config %+v", len(insp.RootFS.Layers), insp.Config)
	}
	if got, want := runImage(ctx, t, c, tag), "flattened-ok\nhello-from-env\n/srv\nmotd-gone\n"; got != want {
		t.Fatalf("the loaded image printed %q, want %q", got, want)
	}
}

// loadImage is docker load of r; it returns the engine's messages.
func loadImage(ctx context.Context, t *testing.T, c *client.Client, r io.Reader) string {
	t.Helper()
	resp, err := c.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		t.Fatalf("docker load: %v", err)
	}
	defer resp.Body.Close()
	var out strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m struct {
			Stream, Error string
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			out.WriteString(sc.Text())
			continue
		}
		if m.Error != "" {
			t.Fatalf("docker load: %s", m.Error)
		}
		out.WriteString(m.Stream)
	}
	return out.String()
}

// runImage is docker run --rm --network none of ref's default command; it
// returns what the command printed.
func runImage(ctx context.Context, t *testing.T, c *client.Client, ref string) string {
	t.Helper()
	created, err := c.ContainerCreate(ctx, &container.Config{Image: ref}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true}) }()
	if err := c.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := c.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Errorf("the container exited %d", w.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
	logs, err := c.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String()
}
