package report

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// fromFork reports whether run built a pull request whose head is not in
// the base repository: a fork, a deleted fork, or a pull request GitHub
// no longer knows (fail closed). Such a build ran an outsider's spec,
// so its files must not appear as a public release under the base
// repository's name.
//
// The answer comes from GitHub at publish time, not from the run's
// trigger: every way of building a pull request's head (the pull request
// event after /build approve, /build, /build retry, Rebuild) is covered,
// and a pull request's head repository cannot change. Runs of the
// repository's own branches (pushes, prompts on issues) have no pull
// request number and are not forks.
func (r *Releases) fromFork(ctx context.Context, rn *store.Run) (bool, error) {
	if rn.Number == nil {
		// A pull request ref without its number is not ours to trust.
		return run.IsPullRef(rn.Ref), nil
	}
	pr, err := r.GitHub.PullRequest(ctx, *rn.InstallationID, rn.Repo, *rn.Number)
	var ge *gh.ErrorResponse
	switch {
	case errors.As(err, &ge) && ge.Response != nil && ge.Response.StatusCode == http.StatusNotFound:
		return true, nil
	case err != nil:
		return false, fmt.Errorf("is run %d from a fork: %w", rn.ID, err)
	}
	head := pr.GetHead().GetRepo().GetFullName()
	return head == "" || !strings.EqualFold(head, rn.Repo), nil
}
