package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/resolve"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// The seed project's routes, kept with its shapes for the clients written
// against it: /health, /build/start, /build/generate, /build/status/:id,
// /build/artifact/:id and /build/download/:id/:type. They take the same
// tokens as /api/v1 (all but /health) and answer problems the same way.

// seedLogLines is how many of its last log lines /build/status shows.
const seedLogLines = 200

// downloadTypes maps /build/download's types to an artifact.
var downloadTypes = map[string]func(store.Artifact) bool{
	"iso":    func(x store.Artifact) bool { return x.Type == run.ArtifactISO },
	"docker": func(x store.Artifact) bool { return x.Type == run.ArtifactImage },
	"qcow2":  func(x store.Artifact) bool { return x.Name == "linux.qcow2" },
	"raw":    func(x store.Artifact) bool { return x.Name == "linux.raw.zst" },
}

// SeedArtifact is an artifact in the seed's shapes.
type SeedArtifact struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url,omitempty"`
}

// SeedStatus is /build/status's answer.
type SeedStatus struct {
	BuildID   int64          `json:"buildId"`
	Status    run.Status     `json:"status"`
	Step      run.State      `json:"step"`
	Error     string         `json:"error,omitempty"`
	Logs      []string       `json:"logs"`
	Artifacts []SeedArtifact `json:"artifacts"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

func (a *API) registerSeed(app *fiber.App) {
	app.Get("/health", a.health)
	app.Post("/build/start", a.seedStart)
	app.Post("/build/generate", a.seedGenerate)
	app.Get("/build/status/:id", a.seedStatus)
	app.Get("/build/artifact/:id", a.seedArtifacts)
	app.Get("/build/download/:id/:type", a.seedDownload) // Fiber's Get serves HEAD too
}

func (a *API) health(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := a.cfg.Store.Ready(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "error": "the store is not ready"})
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// seedBody reads a request body of at most MaxBody bytes: 413 beyond,
// counted as it arrives (the server streams bodies), never held whole.
func (a *API) seedBody(c *fiber.Ctx) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); n > a.cfg.MaxBody {
		return nil, fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", a.cfg.MaxBody))
	}
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		r = strings.NewReader(string(c.Body()))
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(a.cfg.MaxBody)+1))
	if err != nil {
		return nil, fiber.NewError(fiber.StatusBadRequest, "the body could not be read")
	}
	if len(b) > a.cfg.MaxBody {
		return nil, fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", a.cfg.MaxBody))
	}
	return b, nil
}

// seedError answers err: a Fiber error with its code, else as problemFrom.
func (a *API) seedError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return problem(c, fe.Code, fe.Message)
	}
	return a.problemFrom(c, err)
}

func (a *API) seedStart(c *fiber.Ctx) error {
	body, err := a.seedBody(c)
	if err != nil {
		return a.seedError(c, err)
	}
	opts := buildOptions{Outputs: splitList(c.Query("outputs"))}
	if v := c.Query("noBootTest"); v != "" {
		// As huma reads /api/v1's query booleans.
		if opts.NoBootTest, err = strconv.ParseBool(v); err != nil {
			return problem(c, fiber.StatusUnprocessableEntity, fmt.Sprintf("noBootTest: %q is not a boolean (true or false)", v))
		}
	}
	r, err := a.createBuild(c.UserContext(), c.Get(fiber.HeaderContentType), body, opts)
	if err != nil {
		return a.seedError(c, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"buildId": r.ID, "status": r.Status})
}

func (a *API) seedGenerate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if _, err := need(ctx, store.ScopeBuild); err != nil {
		return a.seedError(c, err)
	}
	body, err := a.seedBody(c)
	if err != nil {
		return a.seedError(c, err)
	}
	req, err := parseBody(c.Get(fiber.HeaderContentType), body, true)
	if err != nil {
		return a.seedError(c, err)
	}
	if req.prompt == "" {
		return problem(c, fiber.StatusBadRequest, `send {"prompt": "a description"}`)
	}
	res, err := a.generate(ctx, req.prompt)
	if err != nil {
		return a.seedError(c, err)
	}
	runsCode := resolve.ExecutableContent(res.YAML)
	if runsCode == nil {
		runsCode = []string{}
	}
	return c.JSON(fiber.Map{"spec": string(res.YAML), "warnings": res.Warnings, "attempts": res.Attempts, "runsCode": runsCode})
}

// seedRun is the visible run of the :id parameter.
func (a *API) seedRun(c *fiber.Ctx) (*store.Run, error) {
	if _, err := need(c.UserContext(), store.ScopeRead); err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, buildNotFound()
	}
	return a.VisibleRun(c.UserContext(), id)
}

func (a *API) seedArtifactList(ctx context.Context, r *store.Run) ([]SeedArtifact, error) {
	arts, err := a.cfg.Store.Artifacts(ctx, r.ID)
	if err != nil {
		return nil, a.internal(ctx, "read artifacts", err)
	}
	out := make([]SeedArtifact, 0, len(arts))
	for _, x := range arts {
		s := SeedArtifact{Name: x.Name, Type: string(x.Type), Size: x.Size, SHA256: x.SHA256}
		if x.Key != "" {
			s.URL = a.artifact(r.ID, x).URL
			for t, match := range downloadTypes {
				if match(x) {
					s.URL = fmt.Sprintf("%s/build/download/%d/%s", a.cfg.PublicURL, r.ID, t)
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (a *API) seedStatus(c *fiber.Ctx) error {
	ctx := c.UserContext()
	r, err := a.seedRun(c)
	if err != nil {
		return a.seedError(c, err)
	}
	arts, err := a.seedArtifactList(ctx, r)
	if err != nil {
		return a.seedError(c, err)
	}
	logs, err := a.cfg.Store.LastLogs(ctx, r.ID, seedLogLines)
	if err != nil {
		return a.seedError(c, a.internal(ctx, "read logs", err))
	}
	out := SeedStatus{BuildID: r.ID, Status: r.Status, Step: r.Step, Error: r.FailureReason, Artifacts: arts, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Logs: make([]string, 0, min(len(logs), seedLogLines))}
	for _, l := range logs[max(0, len(logs)-seedLogLines):] {
		out.Logs = append(out.Logs, l.Message)
	}
	return c.JSON(out)
}

func (a *API) seedArtifacts(c *fiber.Ctx) error {
	r, err := a.seedRun(c)
	if err != nil {
		return a.seedError(c, err)
	}
	arts, err := a.seedArtifactList(c.UserContext(), r)
	if err != nil {
		return a.seedError(c, err)
	}
	return c.JSON(fiber.Map{"buildId": r.ID, "status": r.Status, "artifacts": arts})
}

func (a *API) seedDownload(c *fiber.Ctx) error {
	match, ok := downloadTypes[c.Params("type")]
	if !ok {
		return problem(c, fiber.StatusNotFound, "download types: iso, docker, qcow2, raw")
	}
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return a.seedError(c, buildNotFound())
	}
	x, err := a.findArtifact(c.UserContext(), id, match)
	if err != nil {
		return a.seedError(c, err)
	}
	return a.serveArtifact(c, *x, c.Method() == fiber.MethodHead)
}
