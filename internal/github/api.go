package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v88/github"
)

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

// permissionTTL is how long a collaborator permission is trusted: short,
// so a revoked maintainer stops being able to approve builds quickly.
const permissionTTL = time.Minute

type permEntry struct {
	perm string
	at   time.Time
}

type permCache struct {
	mu sync.Mutex
	m  map[string]permEntry
}

// Permission returns user's permission on repo as GitHub's
// collaborator-permission API reports it: admin, write, read or none
// (maintainers report write, triagers read). It is the source of trust
// for builds: a comment's author_association misreports private
// organisation members. Answers are cached for a minute.
func (a *App) Permission(ctx context.Context, installationID int64, repo, user string) (string, error) {
	key := fmt.Sprintf("%d|%s|%s", installationID, strings.ToLower(repo), strings.ToLower(user))
	a.perms.mu.Lock()
	if e, ok := a.perms.m[key]; ok && time.Since(e.at) < permissionTTL {
		a.perms.mu.Unlock()
		return e.perm, nil
	}
	a.perms.mu.Unlock()
	// Concurrent misses of one key ask GitHub once.
	v, err, _ := a.asks.Do(key, func() (any, error) {
		c, owner, name, err := a.repoClient(installationID, repo)
		if err != nil {
			return "", err
		}
		lvl, resp, err := c.Repositories.GetPermissionLevel(ctx, owner, name, user)
		perm := lvl.GetPermission()
		switch {
		case err != nil && resp != nil && resp.StatusCode == http.StatusNotFound:
			// Not a collaborator (or no such user): no permission.
			perm = "none"
		case err != nil:
			return "", fmt.Errorf("permission of %s on %s: %w", user, repo, err)
		}
		a.perms.put(key, perm)
		return perm, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// PullRequest returns pull request number of repo.
func (a *App) PullRequest(ctx context.Context, installationID int64, repo string, number int) (*gh.PullRequest, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	pr, _, err := c.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return nil, fmt.Errorf("get pull request %s#%d: %w", repo, number, err)
	}
	return pr, nil
}

// maxFilePages bounds the files listing: GitHub lists at most 3000 files
// of a pull request, 100 a page.
const maxFilePages = 30

// PullRequestFiles lists the files pull request number changes.
func (a *App) PullRequestFiles(ctx context.Context, installationID int64, repo string, number int) ([]*gh.CommitFile, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return nil, err
	}
	var all []*gh.CommitFile
	opts := &gh.ListOptions{PerPage: 100}
	for page := 0; page < maxFilePages; page++ {
		files, resp, err := c.PullRequests.ListFiles(ctx, owner, name, number, opts)
		if err != nil {
			return nil, fmt.Errorf("list files of %s#%d: %w", repo, number, err)
		}
		all = append(all, files...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return all, nil
}

// Comment posts body on issue or pull request number of repo.
func (a *App) Comment(ctx context.Context, installationID int64, repo string, number int, body string) (int64, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return 0, err
	}
	cm, _, err := c.Issues.CreateComment(ctx, owner, name, number, &gh.IssueComment{Body: gh.Ptr(body)})
	if err != nil {
		return 0, fmt.Errorf("comment on %s#%d: %w", repo, number, err)
	}
	return cm.GetID(), nil
}

// appClient is the client authenticated as the App itself (a JWT), for
// the /app endpoints.
func (a *App) appClient() (*gh.Client, error) {
	return a.newClient(&http.Client{Transport: a.apps, Timeout: 30 * time.Second})
}

// Delivery is one attempt of a webhook delivery, as GitHub lists them.
type Delivery struct {
	ID          int64 // the attempt; what a redelivery names
	GUID        string
	DeliveredAt time.Time
	StatusCode  int
	Redelivery  bool
	Event       string
}

// Deliveries lists the App's webhook delivery attempts, newest first,
// back to since (or at most maxPages pages of 100).
func (a *App) Deliveries(ctx context.Context, since time.Time, maxPages int) ([]Delivery, error) {
	c, err := a.appClient()
	if err != nil {
		return nil, err
	}
	var out []Delivery
	opts := &gh.ListCursorOptions{PerPage: 100}
	for page := 0; page < maxPages; page++ {
		list, resp, err := c.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", err)
		}
		for _, d := range list {
			at := d.GetDeliveredAt().Time
			if at.Before(since) {
				return out, nil
			}
			out = append(out, Delivery{ID: d.GetID(), GUID: d.GetGUID(), DeliveredAt: at, StatusCode: d.GetStatusCode(),
				Redelivery: d.GetRedelivery(), Event: d.GetEvent()})
		}
		if resp.Cursor == "" || len(list) == 0 {
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
	return out, nil
}

// Redeliver asks GitHub to send delivery attempt id again.
func (a *App) Redeliver(ctx context.Context, id int64) error {
	c, err := a.appClient()
	if err != nil {
		return err
	}
	_, _, err = c.Apps.RedeliverHookDelivery(ctx, id)
	var accepted *gh.AcceptedError
	if err != nil && !errors.As(err, &accepted) {
		return fmt.Errorf("redeliver %d: %w", id, err)
	}
	return nil
}

// React adds a reaction (eyes, rocket, confused, …) to issue comment id.
// Reacting twice with the same content is harmless: GitHub answers 200.
func (a *App) React(ctx context.Context, installationID int64, repo string, commentID int64, content string) error {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return err
	}
	if _, _, err := c.Reactions.CreateIssueCommentReaction(ctx, owner, name, commentID, content); err != nil {
		return fmt.Errorf("react %s to comment %d: %w", content, commentID, err)
	}
	return nil
}

// EditComment replaces the body of issue comment id.
func (a *App) EditComment(ctx context.Context, installationID int64, repo string, commentID int64, body string) error {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return err
	}
	if _, _, err := c.Issues.EditComment(ctx, owner, name, commentID, &gh.IssueComment{Body: gh.Ptr(body)}); err != nil {
		return fmt.Errorf("edit comment %d: %w", commentID, err)
	}
	return nil
}

// BranchHead returns the commit at the head of branch.
func (a *App) BranchHead(ctx context.Context, installationID int64, repo, branch string) (string, error) {
	c, owner, name, err := a.repoClient(installationID, repo)
	if err != nil {
		return "", err
	}
	commit, _, err := c.Repositories.GetCommit(ctx, owner, name, branch, &gh.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("head of %s in %s: %w", branch, repo, err)
	}
	return commit.GetSHA(), nil
}

// SpecPR is a pull request adding a generated spec.
type SpecPR struct {
	Repo       string
	Base       string // the branch to merge into
	BaseSHA    string // where the new branch starts
	Branch     string // the new branch
	Path       string
	Content    []byte
	Title      string
	Body       string
	CommitText string
}

// OpenSpecPR creates a branch at BaseSHA with Content at Path and opens a
// pull request from it, returning its URL. It is idempotent: an existing
// branch or pull request of the same name is reused (a retried job).
func (a *App) OpenSpecPR(ctx context.Context, installationID int64, p SpecPR) (string, error) {
	c, owner, name, err := a.repoClient(installationID, p.Repo)
	if err != nil {
		return "", err
	}
	_, resp, err := c.Git.CreateRef(ctx, owner, name, gh.CreateRef{Ref: "refs/heads/" + p.Branch, SHA: p.BaseSHA})
	if err != nil && (resp == nil || resp.StatusCode != http.StatusUnprocessableEntity) {
		return "", fmt.Errorf("create branch %s: %w", p.Branch, err)
	}
	opts := &gh.RepositoryContentFileOptions{Message: gh.Ptr(p.CommitText), Content: p.Content, Branch: gh.Ptr(p.Branch)}
	if _, resp, err := c.Repositories.CreateFile(ctx, owner, name, p.Path, opts); err != nil {
		if resp == nil || resp.StatusCode != http.StatusUnprocessableEntity {
			return "", fmt.Errorf("commit %s: %w", p.Path, err)
		}
		// The file is there from an earlier attempt: replace it.
		cur, _, _, gerr := c.Repositories.GetContents(ctx, owner, name, p.Path, &gh.RepositoryContentGetOptions{Ref: p.Branch})
		if gerr != nil {
			return "", fmt.Errorf("commit %s: %w", p.Path, gerr)
		}
		opts.SHA = cur.SHA
		if _, _, err := c.Repositories.UpdateFile(ctx, owner, name, p.Path, opts); err != nil {
			return "", fmt.Errorf("commit %s: %w", p.Path, err)
		}
	}
	pr, resp, err := c.PullRequests.Create(ctx, owner, name, &gh.NewPullRequest{Title: gh.Ptr(p.Title), Head: gh.Ptr(p.Branch),
		Base: gh.Ptr(p.Base), Body: gh.Ptr(p.Body)})
	if err == nil {
		return pr.GetHTMLURL(), nil
	}
	if resp == nil || resp.StatusCode != http.StatusUnprocessableEntity {
		return "", fmt.Errorf("open pull request: %w", err)
	}
	open, _, lerr := c.PullRequests.List(ctx, owner, name, &gh.PullRequestListOptions{Head: owner + ":" + p.Branch, State: "open"})
	if lerr != nil || len(open) == 0 {
		return "", fmt.Errorf("open pull request: %w", err)
	}
	return open[0].GetHTMLURL(), nil
}

// RepoPrivate reports whether repo is private (or internal: not readable
// by everyone), as installationID's token reads it. Answers are cached for
// a minute, as permissions are: a repository made private stops being
// shown to everyone within that time.
func (a *App) RepoPrivate(ctx context.Context, installationID int64, repo string) (bool, error) {
	key := fmt.Sprintf("repo|%d|%s", installationID, strings.ToLower(repo))
	a.perms.mu.Lock()
	if e, ok := a.perms.m[key]; ok && time.Since(e.at) < permissionTTL {
		a.perms.mu.Unlock()
		return e.perm != "public", nil
	}
	a.perms.mu.Unlock()
	// Concurrent misses of one repository ask GitHub once.
	v, err, _ := a.asks.Do(key, func() (any, error) {
		c, owner, name, err := a.repoClient(installationID, repo)
		if err != nil {
			return "", err
		}
		r, _, err := c.Repositories.Get(ctx, owner, name)
		if err != nil {
			return "", fmt.Errorf("repository %s: %w", repo, err)
		}
		vis := "private"
		if !r.GetPrivate() && (r.GetVisibility() == "" || r.GetVisibility() == "public") {
			vis = "public"
		}
		a.perms.put(key, vis)
		return vis, nil
	})
	if err != nil {
		return true, err
	}
	return v.(string) != "public", nil
}

// permCacheMax bounds the cache: past it, expired entries go, and if none
// has, everything does (answers are a minute's convenience, not state).
const permCacheMax = 10000

func (c *permCache) put(key, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]permEntry{}
	}
	if len(c.m) >= permCacheMax {
		for k, e := range c.m {
			if time.Since(e.at) >= permissionTTL {
				delete(c.m, k)
			}
		}
		if len(c.m) >= permCacheMax {
			clear(c.m)
		}
	}
	c.m[key] = permEntry{v, time.Now()}
}
