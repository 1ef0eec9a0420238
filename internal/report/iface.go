package report

import (
	"context"
	"io"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// RunReader reads what a run's report shows: the run's steps, its
// artifacts and the log tail of its failing step.
type RunReader interface {
	Steps(ctx context.Context, id int64) ([]store.RunStep, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
	LogTail(ctx context.Context, id int64, step run.State, n int) ([]store.RunLog, error)
}

// CheckStore is what Checks needs of the store (internal/store.DB).
type CheckStore interface {
	RunReader
	Run(ctx context.Context, id int64) (*store.Run, error)
	// TryLock takes a cluster-wide lock or fails with store.ErrLocked.
	TryLock(ctx context.Context, ns int32, id int64) (unlock func(), err error)
	RecordReport(ctx context.Context, id int64, u store.ReportUpdate) error
	SupersededBy(ctx context.Context, id int64) ([]int64, error)
	MarkReportedFinal(ctx context.Context, id int64, releaseURL string) error
}

// CheckGitHub is what Checks needs of GitHub (internal/github.App).
type CheckGitHub interface {
	FindCheckRun(ctx context.Context, installationID int64, repo, sha, name, externalID string) (*gh.CheckRun, error)
	CreateCheckRun(ctx context.Context, installationID int64, repo string, opts gh.CreateCheckRunOptions) (*gh.CheckRun, error)
	UpdateCheckRun(ctx context.Context, installationID int64, repo string, id int64, opts gh.UpdateCheckRunOptions) (*gh.CheckRun, error)
	EditComment(ctx context.Context, installationID int64, repo string, commentID int64, body string) error
	React(ctx context.Context, installationID int64, repo string, commentID int64, content string) error
}

// ReleaseStore is what Releases needs of the store (internal/store.DB).
type ReleaseStore interface {
	Run(ctx context.Context, id int64) (*store.Run, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
	Logs(ctx context.Context, runID, afterID int64, limit int) ([]store.RunLog, error)
	SetArtifactURL(ctx context.Context, id int64, url string) error
	AddArtifact(ctx context.Context, a *store.Artifact) error
	RecordReport(ctx context.Context, id int64, u store.ReportUpdate) error
}

// ArtifactReader reads artifacts' bytes from the artifact store
// (internal/artifacts.Store).
type ArtifactReader interface {
	Stat(ctx context.Context, key string) (artifacts.Object, error)
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, artifacts.Object, error)
}

// ReleaseGitHub is what Releases needs of GitHub (internal/github.App).
type ReleaseGitHub interface {
	PullRequest(ctx context.Context, installationID int64, repo string, number int) (*gh.PullRequest, error)
	ReleaseByTag(ctx context.Context, installationID int64, repo, tag string) (*gh.RepositoryRelease, error)
	DraftRelease(ctx context.Context, installationID int64, repo, tag string) (*gh.RepositoryRelease, error)
	CreateRelease(ctx context.Context, installationID int64, repo string, rel *gh.RepositoryRelease) (*gh.RepositoryRelease, error)
	ReleaseAssets(ctx context.Context, installationID int64, repo string, releaseID int64) (map[string]*gh.ReleaseAsset, error)
	UploadReleaseAsset(ctx context.Context, installationID int64, repo string, releaseID int64, name string,
		body io.Reader, size int64) (*gh.ReleaseAsset, error)
	DeleteReleaseAsset(ctx context.Context, installationID int64, repo string, id int64) error
}
