package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/dpkg"
	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// MaxAsset is the size from which GitHub refuses a release asset (2 GiB).
// Larger files are published in numbered parts with a reassembly note.
const MaxAsset int64 = 2 << 30

// Releases publishes a successful run as a GitHub release: tag
// linux-build/<short sha>-<run> on the head commit (a pre-release for pull
// request builds), the notes, and the assets — the ISO, the image tar, the
// resolved spec, the build log, the boot serial logs and SHA256SUMS.
// Uploads stream from disk (memory does not grow with size), are retried
// on server errors with the partial asset deleted first, and are
// idempotent: an asset already there with the same digest is kept.
type Releases struct {
	GitHub  ReleaseGitHub
	Store   ReleaseStore
	Reports *render.Reporter
	// Link is the bot's home page, for the notes.
	Link string
	// PartSize is the size of the parts of large files; default MaxAsset
	// - 1 MiB (tests lower it).
	PartSize int64
	Logger   *slog.Logger
	// Retries of one upload after a server error; default 3.
	Retries int
	// Artifacts is the artifact store the run's files are read from
	// (streamed, in sections for large files), on whichever worker
	// publishes; the release writes nothing there.
	Artifacts ArtifactReader
}

// Tag is the release tag of a run.
func Tag(rn *store.Run) string {
	return fmt.Sprintf("linux-build/%s-%d", run.ShortSHA(rn.HeadSHA), rn.ID)
}

// Publish publishes run id. A run that is not a successful GitHub run has
// nothing to publish.
func (r *Releases) Publish(ctx context.Context, id int64) error {
	rn, err := r.Store.Run(ctx, id)
	if err != nil {
		return err
	}
	if rn.InstallationID == nil || rn.Status != run.StatusSuccess {
		return nil
	}
	arts, err := r.Store.Artifacts(ctx, id)
	if err != nil {
		return err
	}
	if len(arts) == 0 {
		return nil
	}
	draft, err := r.fromFork(ctx, rn)
	if err != nil {
		return err
	}
	assets, split, err := r.assets(ctx, rn, arts)
	if err != nil {
		return err
	}
	rel, err := r.release(ctx, rn, assets, split, draft)
	if err != nil {
		return err
	}
	existing, err := r.GitHub.ReleaseAssets(ctx, *rn.InstallationID, rn.Repo, rel.GetID())
	if err != nil {
		return err
	}
	for _, a := range assets {
		url, err := r.upload(ctx, rn, rel, a, existing)
		if err != nil {
			return err
		}
		if a.artifactID != 0 {
			if err := r.Store.SetArtifactURL(ctx, a.artifactID, url); err != nil {
				return err
			}
		}
	}
	relID, relURL, notFinal := rel.GetID(), rel.GetHTMLURL(), false
	// The check run shows the links: its final sync runs again.
	return r.Store.RecordReport(ctx, id, store.ReportUpdate{ReleaseID: &relID, ReleaseURL: &relURL, ReleaseDraft: &draft, ReportedFinal: &notFinal})
}

// release returns the run's release, creating it when it is missing: a
// draft when draft is set (a pull request from a fork).
func (r *Releases) release(ctx context.Context, rn *store.Run, assets []asset, split []string, draft bool) (*gh.RepositoryRelease, error) {
	inst, tag := *rn.InstallationID, Tag(rn)
	rel, err := r.GitHub.ReleaseByTag(ctx, inst, rn.Repo, tag)
	if err != nil || rel != nil {
		return rel, err
	}
	if draft {
		if rel, err := r.GitHub.DraftRelease(ctx, inst, rn.Repo, tag); err != nil || rel != nil {
			return rel, err
		}
	}
	notes := &render.ReleaseNotes{RunID: rn.ID, Link: r.Link, SpecPath: rn.SpecPath, HeadSHA: rn.HeadSHA, Trigger: string(rn.Trigger),
		Warnings: rn.Warnings, Split: split, Draft: draft}
	for _, f := range []struct{ k, v string }{{"base", rn.Base}, {"kernel", rn.KernelVersion}, {"init", rn.InitSystem},
		{"architecture", rn.Architecture}, {"kernel hardening", rn.SecurityLevel}} {
		if f.v != "" {
			notes.Facts = append(notes.Facts, struct{ K, V string }{f.k, f.v})
		}
	}
	for _, a := range assets {
		notes.Files = append(notes.Files, render.Download{Name: a.name, Size: a.size, SHA256: a.sha256})
	}
	notes.Updates, notes.MoreUpdates = packageUpdates(rn.PackageUpdates)
	body, err := r.Reports.Release(notes)
	if err != nil {
		return nil, err
	}
	pre := rn.Trigger == run.TriggerPullRequest || (rn.Number != nil && run.IsPullRef(rn.Ref))
	return r.GitHub.CreateRelease(ctx, inst, rn.Repo, &gh.RepositoryRelease{
		TagName: gh.Ptr(tag), TargetCommitish: gh.Ptr(rn.HeadSHA), Name: gh.Ptr(fmt.Sprintf("Linux build %s (run %d)", run.ShortSHA(rn.HeadSHA), rn.ID)),
		Body: gh.Ptr(body), Prerelease: gh.Ptr(pre || draft), Draft: gh.Ptr(draft),
	})
}

// upload publishes one asset and returns its download URL.
func (r *Releases) upload(ctx context.Context, run *store.Run, rel *gh.RepositoryRelease, a asset, existing map[string]*gh.ReleaseAsset) (string, error) {
	inst := *run.InstallationID
	if prev, ok := existing[a.name]; ok {
		if prev.GetState() == "uploaded" && prev.GetDigest() == "sha256:"+a.sha256 && int64(prev.GetSize()) == a.size {
			return prev.GetBrowserDownloadURL(), nil // already there: kept
		}
		if err := r.GitHub.DeleteReleaseAsset(ctx, inst, run.Repo, prev.GetID()); err != nil {
			return "", err
		}
	}
	retries := r.Retries
	if retries <= 0 {
		retries = 3
	}
	for attempt := 1; ; attempt++ {
		got, err := r.uploadOnce(ctx, run, rel.GetID(), a)
		if err == nil {
			return got.GetBrowserDownloadURL(), nil
		}
		var ge *gh.ErrorResponse
		isGE := errors.As(err, &ge)
		serverErr := isGE && ge.Response != nil && ge.Response.StatusCode >= 500 || !isGE && ctx.Err() == nil
		if !serverErr || attempt > retries {
			return "", fmt.Errorf("upload %s: %w", a.name, err)
		}
		r.log().WarnContext(ctx, "upload failed; deleting the partial asset and retrying", logging.KeyRun, run.ID, "asset", a.name, "attempt", attempt, logging.KeyErr, err)
		// GitHub may keep a partial ("starter") asset of that name.
		left, lerr := r.GitHub.ReleaseAssets(ctx, inst, run.Repo, rel.GetID())
		if lerr != nil {
			return "", lerr
		}
		if p, ok := left[a.name]; ok {
			if err := r.GitHub.DeleteReleaseAsset(ctx, inst, run.Repo, p.GetID()); err != nil {
				return "", err
			}
		}
		if err := sleepCtx(ctx, time.Duration(attempt)*time.Second); err != nil {
			return "", err
		}
	}
}

// uploadOnce uploads asset a's section of its artifact once, streamed
// from the artifact store.
func (r *Releases) uploadOnce(ctx context.Context, run *store.Run, releaseID int64, a asset) (*gh.ReleaseAsset, error) {
	body, err := r.open(ctx, a)
	if err != nil {
		return nil, err
	}
	got, err := r.GitHub.UploadReleaseAsset(ctx, *run.InstallationID, run.Repo, releaseID, a.name, body, a.size)
	if err = errors.Join(err, body.Close()); err != nil {
		return nil, err
	}
	return got, nil
}

func (r *Releases) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// packageUpdates reads a scheduled rebuild's recorded package updates
// for its notes: the first render.MaxListedUpdates and how many more. A
// record that does not decode lists nothing.
func packageUpdates(recorded string) ([]render.PackageUpdate, int) {
	if recorded == "" {
		return nil, 0
	}
	ups, more, err := dpkg.ReadUpdates(recorded)
	if err != nil {
		return nil, 0
	}
	out := make([]render.PackageUpdate, 0, min(len(ups), render.MaxListedUpdates))
	for _, u := range ups[:min(len(ups), render.MaxListedUpdates)] {
		out = append(out, render.PackageUpdate{Name: u.Name, Old: u.Old, New: u.New})
	}
	return out, len(ups) - len(out) + more
}
