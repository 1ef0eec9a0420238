package github

import (
	"context"
	"fmt"
	"net/http"

	gh "github.com/google/go-github/v88/github"
)

// Release returns release id of repo, or nil when there is none (deleted,
// or the repository is gone).
func (a *App) Release(ctx context.Context, installationID int64, repo string, id int64) (*gh.RepositoryRelease, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	rel, resp, err := c.Repositories.GetRelease(ctx, owner, name, id)
	switch {
	case err == nil:
		return rel, nil
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		return nil, nil
	}
	return nil, fmt.Errorf("get release %d: %w", id, err)
}

// DeleteRelease deletes release id of repo (its tag stays: GitHub never
// deletes a tag with its release). A release already gone is not an
// error.
func (a *App) DeleteRelease(ctx context.Context, installationID int64, repo string, id int64) error {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return err
	}
	resp, err := c.Repositories.DeleteRelease(ctx, owner, name, id)
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return fmt.Errorf("delete release %d: %w", id, err)
	}
	return nil
}
