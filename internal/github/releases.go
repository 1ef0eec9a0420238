package github

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	gh "github.com/google/go-github/v88/github"
)

// maxReleasePages bounds release and asset listings: 10 pages of 100.
const maxReleasePages = 10

// ReleaseByTag returns the published release tagged tag, or nil when
// there is none.
func (a *App) ReleaseByTag(ctx context.Context, installationID int64, repo, tag string) (*gh.RepositoryRelease, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	// The tag has a slash: it is escaped in the path (go-github's
	// GetReleaseByTag does not).
	req, err := c.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/releases/tags/%s", owner, name, url.PathEscape(tag)), nil)
	if err != nil {
		return nil, err
	}
	rel := new(gh.RepositoryRelease)
	resp, err := c.Do(req, rel)
	switch {
	case err == nil:
		return rel, nil
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		return nil, nil
	}
	return nil, fmt.Errorf("get release %s: %w", tag, err)
}

// DraftRelease finds a draft release with tag (GitHub does not find
// drafts by tag: their tag does not exist until they are published), or
// nil.
func (a *App) DraftRelease(ctx context.Context, installationID int64, repo, tag string) (*gh.RepositoryRelease, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.ListOptions{PerPage: 100}
	for page := 0; page < maxReleasePages; page++ {
		list, resp, err := c.Repositories.ListReleases(ctx, owner, name, opts)
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		for _, rel := range list {
			if rel.GetDraft() && rel.GetTagName() == tag {
				return rel, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, nil
}

// CreateRelease creates release rel in repo.
func (a *App) CreateRelease(ctx context.Context, installationID int64, repo string, rel *gh.RepositoryRelease) (*gh.RepositoryRelease, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	out, _, err := c.Repositories.CreateRelease(ctx, owner, name, rel)
	if err != nil {
		return nil, fmt.Errorf("create release %s: %w", rel.GetTagName(), err)
	}
	return out, nil
}

// ReleaseAssets lists the assets of release releaseID by name.
func (a *App) ReleaseAssets(ctx context.Context, installationID int64, repo string, releaseID int64) (map[string]*gh.ReleaseAsset, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	out := map[string]*gh.ReleaseAsset{}
	opts := &gh.ListOptions{PerPage: 100, Page: 1}
	for range maxReleasePages {
		list, resp, err := c.Repositories.ListReleaseAssets(ctx, owner, name, releaseID, opts)
		if err != nil {
			return nil, fmt.Errorf("list release assets: %w", err)
		}
		for _, as := range list {
			out[as.GetName()] = as
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// UploadReleaseAsset uploads size bytes of body as asset name of release
// releaseID, once: the request has no overall timeout (ctx bounds it) and
// is not repeated (the caller deletes a partial asset before trying
// again).
func (a *App) UploadReleaseAsset(ctx context.Context, installationID int64, repo string, releaseID int64, name string,
	body io.Reader, size int64) (*gh.ReleaseAsset, error) {
	owner, rname, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	c, err := a.uploadClient(installationID)
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("repos/%s/%s/releases/%d/assets?name=%s", owner, rname, releaseID, url.QueryEscape(name))
	req, err := c.NewUploadRequest(ctx, u, body, size, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	if size == 0 {
		// An empty body must still say Content-Length: 0 (Go sends an
		// empty non-nil body chunked, which GitHub refuses).
		req.Body, req.GetBody = http.NoBody, nil
	}
	got := new(gh.ReleaseAsset)
	if _, err := c.Do(req, got); err != nil {
		return nil, err
	}
	return got, nil
}

// DeleteReleaseAsset deletes release asset id.
func (a *App) DeleteReleaseAsset(ctx context.Context, installationID int64, repo string, id int64) error {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return err
	}
	if _, err := c.Repositories.DeleteReleaseAsset(ctx, owner, name, id); err != nil {
		return fmt.Errorf("delete release asset %d: %w", id, err)
	}
	return nil
}
