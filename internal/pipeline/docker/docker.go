// Package docker builds, exports and removes images on a Docker Engine
// through its API (the Docker client with API-version negotiation, so an
// engine older than the client works), and imports offline base images.
package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// Engine is a Docker Engine.
type Engine struct {
	c *client.Client
	// Limits bound every build's containers (set before the first build).
	Limits BuildLimits
	// Network, when set, is the network the build's RUN steps use (see
	// EnsureBuildNetwork); the engine's default bridge otherwise.
	Network      string
	cgroupDriver string
}

var _ pipeline.ImageBuilder = (*Engine)(nil)

// Connect connects to the engine DOCKER_HOST names (default the local
// socket) and checks that it answers.
func Connect(ctx context.Context) (*Engine, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine is not answering (is dockerd running?): %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine info: %w", err)
	}
	return &Engine{c: c, cgroupDriver: info.CgroupDriver}, nil
}

// Close closes the client.
func (e *Engine) Close() error { return e.c.Close() }

// Client is the underlying API client.
func (e *Engine) Client() *client.Client { return e.c }

// lastLines keeps the last n lines of build output for error reasons.
type lastLines struct {
	n     int
	lines []string
}

func (l *lastLines) add(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > l.n {
		l.lines = l.lines[len(l.lines)-l.n:]
	}
}

// Build streams the context to the engine and builds it, passing every
// output line to log as it arrives. An errorDetail in the stream fails the
// build with the last lines of output in the error. Cancelling ctx stops
// the build. It never pulls: base images must be present locally (see
// ImportBase), as the builders have no registry.
func (e *Engine) Build(ctx context.Context, req pipeline.BuildRequest, log func(string)) (string, error) {
	if e.Network != "" {
		// The policy is checked before every build: a firewall reload
		// (or new resolvers) between builds must not leave one
		// unfiltered. Missing rules are put back; a build never runs
		// without them.
		if err := e.CheckBuildNetwork(ctx, e.Network); err != nil {
			log("build network: " + err.Error() + "; restoring its rules")
			if err := e.PrepareBuildNetwork(ctx, e.Network); err != nil {
				return "", e.lost(ctx, fmt.Errorf("build network: %w", err))
			}
			if err := e.CheckBuildNetwork(ctx, e.Network); err != nil {
				return "", e.lost(ctx, err)
			}
		}
	}
	parent, cleanup, err := e.pidsParent(ctx, req.Tag)
	if err != nil {
		return "", err
	}
	defer cleanup()
	log("build limits: " + e.Limits.describe())
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(req.Context.WriteTar(pw)) }()
	defer pr.Close()
	opts := build.ImageBuildOptions{
		Tags:         []string{req.Tag},
		Labels:       req.Labels,
		Remove:       true,
		ForceRemove:  true,
		PullParent:   false,
		NoCache:      req.NoCache,
		Dockerfile:   "Dockerfile",
		Version:      build.BuilderV1,
		CgroupParent: parent,
		NetworkMode:  e.Network,
	}
	if e.Limits.MemoryBytes > 0 {
		opts.Memory, opts.MemorySwap = e.Limits.MemoryBytes, e.Limits.MemoryBytes
	}
	if e.Limits.CPUs > 0 {
		opts.CPUPeriod, opts.CPUQuota = 100_000, int64(e.Limits.CPUs*100_000)
	}
	resp, err := e.c.ImageBuild(ctx, pr, opts)
	if err != nil {
		return "", e.lost(ctx, fmt.Errorf("start build: %w", err))
	}
	defer resp.Body.Close()
	imageID, err := readBuild(ctx, resp.Body, log)
	if err != nil {
		// A failed step is the build's own failure, unless the engine
		// stopped (it kills the step) or died under it.
		return "", e.lost(ctx, err)
	}
	if imageID == "" {
		insp, err := e.c.ImageInspect(ctx, req.Tag)
		if err != nil {
			return "", e.lost(ctx, fmt.Errorf("build finished without an image: %w", err))
		}
		imageID = insp.ID
	}
	return imageID, nil
}

// readBuild reads a build's output stream to its end, passing every line
// to log, and returns the image ID it announced, if any. An errorDetail
// fails the build with the last lines of output in the error.
func readBuild(ctx context.Context, body io.Reader, log func(string)) (string, error) {
	tail := &lastLines{n: 15}
	var imageID string
	dec := json.NewDecoder(body)
	for {
		var msg streamMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("read build output: %w", err)
		}
		for _, text := range []string{msg.Stream, msg.Status} {
			sc := bufio.NewScanner(strings.NewReader(text))
			for sc.Scan() {
				line := strings.TrimRight(sc.Text(), "\r")
				if strings.TrimSpace(line) == "" {
					continue
				}
				tail.add(line)
				log(line)
			}
		}
		if msg.Aux != nil {
			var aux struct {
				ID string `json:"ID"`
			}
			if json.Unmarshal(msg.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		if text := msg.failure(); text != "" {
			log(text)
			return "", fmt.Errorf("%s\n%s", text, strings.Join(tail.lines, "\n"))
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return imageID, nil
}

// streamMessage is one line of the engine's JSON progress streams.
type streamMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// failure is the stream message's error text, or "".
func (m *streamMessage) failure() string {
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		return m.ErrorDetail.Message
	}
	return m.Error
}

// Save streams the image as a docker-save tar to w.
func (e *Engine) Save(ctx context.Context, imageID string, w io.Writer) error {
	rc, err := e.c.ImageSave(ctx, []string{imageID})
	if err != nil {
		return e.lost(ctx, fmt.Errorf("save image: %w", err))
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return e.lost(ctx, fmt.Errorf("save image: %w", err))
	}
	return nil
}

// Remove deletes an image. Its parent layers stay: they are the layer
// cache the next build of a similar spec reuses.
func (e *Engine) Remove(ctx context.Context, imageID string) error {
	if _, err := e.c.ImageRemove(ctx, imageID, image.RemoveOptions{Force: true, PruneChildren: false}); err != nil {
		return e.lost(ctx, fmt.Errorf("remove image: %w", err))
	}
	return nil
}

// Export creates a container of the image (never started) and streams its
// file system as a tar to w, then removes the container.
func (e *Engine) Export(ctx context.Context, imageID string, w io.Writer) error {
	created, err := e.c.ContainerCreate(ctx, &container.Config{Image: imageID, Cmd: []string{"/bin/true"},
		Labels: map[string]string{"io.linux-builder.export": "1"}}, nil, nil, nil, "")
	if err != nil {
		return e.lost(ctx, fmt.Errorf("create export container: %w", err))
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = e.c.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
	}()
	rc, err := e.c.ContainerExport(ctx, created.ID)
	if err != nil {
		return e.lost(ctx, fmt.Errorf("export container: %w", err))
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return e.lost(ctx, fmt.Errorf("export container: %w", err))
	}
	return nil
}

// ImageID is the content-addressed ID of the local image ref. Images are
// never pulled: a missing base image is an error that says how to get it.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	insp, err := e.c.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("the engine has no image %s (import it: bot base import %s)", ref, ref)
	}
	if err != nil {
		return "", e.lost(ctx, fmt.Errorf("inspect %s: %w", ref, err))
	}
	return insp.ID, nil
}

// InspectImage reads the local image ref's ID, labels, platform and
// run-time configuration; found is false when the engine has none.
func (e *Engine) InspectImage(ctx context.Context, ref string) (pipeline.ImageInfo, bool, error) {
	insp, err := e.c.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return pipeline.ImageInfo{}, false, nil
	}
	if err != nil {
		return pipeline.ImageInfo{}, false, e.lost(ctx, fmt.Errorf("inspect %s: %w", ref, err))
	}
	info := pipeline.ImageInfo{ID: insp.ID, Architecture: insp.Architecture, OS: insp.Os, Variant: insp.Variant}
	if insp.Created != "" {
		created, err := time.Parse(time.RFC3339Nano, insp.Created)
		if err != nil {
			return pipeline.ImageInfo{}, false, fmt.Errorf("inspect %s: created %q: %w", ref, insp.Created, err)
		}
		info.Created = created
	}
	if c := insp.Config; c != nil {
		info.Labels = c.Labels
		info.Config = pipeline.ImageRunConfig{
			Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint,
			WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal,
			ExposedPorts: sortedKeys(c.ExposedPorts), Volumes: sortedKeys(c.Volumes),
		}
	}
	return info, true, nil
}

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var _ pipeline.ImageInspector = (*Engine)(nil)

// HasImage reports whether ref is present locally.
func (e *Engine) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := e.c.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, e.lost(ctx, fmt.Errorf("inspect %s: %w", ref, err))
}

// Import creates image ref from a root file system tar stream.
func (e *Engine) Import(ctx context.Context, rootfs io.Reader, ref string, changes []string) error {
	rc, err := e.c.ImageImport(ctx, image.ImportSource{Source: rootfs, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	return nil
}

// Leftovers counts the containers of ISO exports created since since
// (whole seconds: the engine records no finer), and the images tagged in
// repo, for cleanup checks. since keeps a check to its own builds on an
// engine that other tests, deployments or a crashed run share.
func (e *Engine) Leftovers(ctx context.Context, repo string, since time.Time) (containers, images int, err error) {
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.linux-builder.export"))})
	if err != nil {
		return 0, 0, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		if c.Created >= since.Unix() {
			containers++
		}
	}
	is, err := e.c.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("reference", repo))})
	if err != nil {
		return 0, 0, fmt.Errorf("list images: %w", err)
	}
	return containers, len(is), nil
}

// Credentials log in to a registry for Push.
type Credentials struct {
	Username, Password, ServerAddress string
}

// Push tags the image as ref and pushes it with creds, reading the push
// stream to its end: an errorDetail fails the push.
func (e *Engine) Push(ctx context.Context, imageID, ref string, creds Credentials, log func(string)) error {
	if err := e.c.ImageTag(ctx, imageID, ref); err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: creds.Username, Password: creds.Password, ServerAddress: creds.ServerAddress})
	if err != nil {
		return fmt.Errorf("registry auth: %w", err)
	}
	rc, err := e.c.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg streamMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read push output: %w", err)
		}
		if text := msg.failure(); text != "" {
			return fmt.Errorf("push %s: %s", ref, text)
		}
		if msg.Status != "" {
			log(msg.Status)
		}
	}
}

// Pusher pushes with fixed credentials: pipeline.Pusher.
type Pusher struct {
	Engine *Engine
	Creds  Credentials
}

var _ pipeline.Pusher = Pusher{}

// Push implements pipeline.Pusher.
func (p Pusher) Push(ctx context.Context, imageID, ref string, log func(string)) error {
	return p.Engine.Push(ctx, imageID, ref, p.Creds, log)
}
