package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v88/github"
)

// maxCheckRunPages bounds the search for a check run: 10 pages of 100.
const maxCheckRunPages = 10

// FindCheckRun returns the check run named name with external id
// externalID on commit sha, or nil.
func (a *App) FindCheckRun(ctx context.Context, installationID int64, repo, sha, name, externalID string) (*gh.CheckRun, error) {
	c, owner, rname, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.ListCheckRunsOptions{CheckName: gh.Ptr(name), Filter: gh.Ptr("all"), AppID: gh.Ptr(a.cfg.AppID),
		ListOptions: gh.ListOptions{PerPage: 100}}
	for page := 0; page < maxCheckRunPages; page++ {
		res, resp, err := c.Checks.ListCheckRunsForRef(ctx, owner, rname, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("list check runs of %s@%s: %w", repo, sha, err)
		}
		for _, cr := range res.CheckRuns {
			if cr.GetExternalID() == externalID {
				return cr, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, nil
}

// CreateCheckRun creates a check run.
func (a *App) CreateCheckRun(ctx context.Context, installationID int64, repo string, opts gh.CreateCheckRunOptions) (*gh.CheckRun, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	cr, _, err := c.Checks.CreateCheckRun(ctx, owner, name, opts)
	if err != nil {
		return nil, fmt.Errorf("create check run on %s@%s: %w", repo, opts.HeadSHA, err)
	}
	return cr, nil
}

// UpdateCheckRun updates check run id.
func (a *App) UpdateCheckRun(ctx context.Context, installationID int64, repo string, id int64, opts gh.UpdateCheckRunOptions) (*gh.CheckRun, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	cr, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, id, opts)
	if err != nil {
		return nil, fmt.Errorf("update check run %d on %s: %w", id, repo, err)
	}
	return cr, nil
}
