package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gofiber/fiber/v2"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/store"
)

// serveAPI puts the REST API on app (the webhook's): API_RATE, PUBLIC_URL,
// OLLAMA_URL and OLLAMA_MODEL from the environment, the artifact store of
// --artifact-store. It returns what releases the artifact store.
func serveAPI(ctx context.Context, app *fiber.App, db *store.DB, jobs store.Jobs, dataDir, artifactStore string) (func(), error) {
	rate, err := api.ParseRate(os.Getenv("API_RATE"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	as, err := openArtifacts(ctx, artifactStore, dataDir)
	if err != nil {
		return nil, err
	}
	gen, err := ai.NewGenerator(&ai.Client{URL: os.Getenv("OLLAMA_URL"), Model: os.Getenv("OLLAMA_MODEL")}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		as.Close()
		return nil, err
	}
	a, err := api.New(api.Config{Store: db, Jobs: jobs, Artifacts: as, Generator: gen, Rate: rate,
		PublicURL: strings.TrimSuffix(os.Getenv("PUBLIC_URL"), "/"), Logger: slog.Default()})
	if err != nil {
		as.Close()
		return nil, err
	}
	a.Register(app)
	return func() { as.Close() }, nil
}
