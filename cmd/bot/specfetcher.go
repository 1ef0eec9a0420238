package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// specFetcher fetches a run's spec from its repository at its head SHA
// through the GitHub client: the pipeline's SpecFetcher.
type specFetcher struct{ app *github.App }

var _ pipeline.SpecFetcher = specFetcher{}

// FetchSpec implements pipeline.SpecFetcher.
func (f specFetcher) FetchSpec(ctx context.Context, rec *pipeline.RunRecord) ([]byte, error) {
	if rec.InstallationID == 0 || rec.HeadSHA == "" {
		return nil, fmt.Errorf("run %d has no installation or head SHA to fetch its spec from", rec.ID)
	}
	b, err := f.app.FetchFile(ctx, rec.InstallationID, rec.Repo, rec.SpecPath, rec.HeadSHA)
	if errors.Is(err, github.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", pipeline.ErrSpecNotFound, err)
	}
	return b, err
}
