// Package access decides who reads which run, for the run pages, the REST
// API and the live event streams alike. It imports the store's row types
// and nothing that serves anything.
package access

import (
	"context"
	"log/slog"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Viewer is who asks to read a run: a person signed in with GitHub, an API
// token, both or neither (anonymous).
type Viewer struct {
	// Login and UserID: the person signed in with GitHub ("" when none).
	Login  string
	UserID int64
	// CSRF is the session's token for its forms.
	CSRF string
	// TokenID is the API token the request carries (0: none); Admin is set
	// for a token of scope admin, which reads every run.
	TokenID int64
	Admin   bool
	// Session is the session cookie's secret (sign-out deletes its row);
	// empty without a session.
	Session string
}

// SignedIn reports whether a person signed in.
func (v Viewer) SignedIn() bool { return v.Login != "" }

// RepoReader is what the App's installation token tells about a
// repository (a *github.App): whether it is private, and what a person
// may do in it. Answers are cached briefly by the App.
type RepoReader interface {
	RepoPrivate(ctx context.Context, installationID int64, repo string) (bool, error)
	Permission(ctx context.Context, installationID int64, repo, user string) (string, error)
}

// Access decides who reads which run. Run ids are not secrets (they are
// sequential and shown on GitHub): every read is decided here, and a run
// the viewer may not read is answered as if it did not exist.
//
//   - An admin token reads every run.
//   - A run from GitHub (it has an installation) is public when its
//     repository is public, and otherwise readable by the people GitHub
//     lets read the repository (their collaborator permission, asked with
//     the App's installation token: none means no).
//   - A run started by an API token is its token's (and admins').
//   - Anything else (bot build on a worker's machine) is admins' only.
//
// Whenever GitHub cannot be asked, the answer is no.
type Access struct {
	GitHub RepoReader // nil: no run from GitHub is readable but by admins
	// TokenOf is the API token that started r (0: none); nil when the API
	// is not served.
	TokenOf func(r *store.Run) int64
	Logger  *slog.Logger
}

// CanRead reports whether v may read r.
func (a *Access) CanRead(ctx context.Context, v Viewer, r *store.Run) bool {
	switch {
	case r == nil:
		return false
	case v.Admin:
		return true
	case r.InstallationID != nil:
		return a.canReadRepo(ctx, v, *r.InstallationID, r.Repo)
	case a.TokenOf != nil && v.TokenID != 0:
		return a.TokenOf(r) == v.TokenID
	default:
		return false
	}
}

func (a *Access) canReadRepo(ctx context.Context, v Viewer, inst int64, repo string) bool {
	if a.GitHub == nil {
		return false
	}
	private, err := a.GitHub.RepoPrivate(ctx, inst, repo)
	if err != nil {
		a.logger().Warn("access: cannot tell whether a repository is public; its runs stay hidden", "repo", repo, logging.KeyErr, err)
		return false
	}
	if !private {
		return true
	}
	if v.Login == "" {
		return false
	}
	perm, err := a.GitHub.Permission(ctx, inst, repo, v.Login)
	if err != nil {
		a.logger().Warn("access: cannot read a person's permission; the run stays hidden", "repo", repo, "login", v.Login, logging.KeyErr, err)
		return false
	}
	switch perm {
	case "read", "triage", "write", "maintain", "admin":
		return true
	}
	return false
}

func (a *Access) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
