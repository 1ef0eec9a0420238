package github

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/render"
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
	App     *App
	DB      *store.DB
	Reports *render.Reporter
	// Link is the bot's home page, for the notes.
	Link string
	// PartSize is the size of the parts of large files; default MaxAsset
	// - 1 MiB (tests lower it).
	PartSize int64
	Logger   *slog.Logger
	// Retries of one upload after a server error; default 3.
	Retries int
	// ArtifactsDir is the pipeline's artifacts directory (absolute): run
	// id's own directory is <ArtifactsDir>/<id>. Every file a release
	// publishes must be there, and the release writes build.log and
	// SHA256SUMS only there.
	ArtifactsDir string
}

// Tag is the release tag of a run.
func Tag(run *store.Run) string { return fmt.Sprintf("linux-build/%s-%d", short(run.HeadSHA), run.ID) }

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// asset is one file to publish: a section of a file on disk.
type asset struct {
	name   string
	path   string
	offset int64
	size   int64
	sha256 string
	// artifactID is the artifact whose URL this asset gives (0: none).
	artifactID int64
}

// ghAsset is a release asset as GitHub returns it (go-github v60 lacks
// digest).
type ghAsset struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	State              string `json:"state"`
	Size               int64  `json:"size"`
	Digest             string `json:"digest"`
	BrowserDownloadURL string `json:"browser_download_url"`
}

// Publish publishes run id. A run that is not a successful GitHub run has
// nothing to publish.
func (r *Releases) Publish(ctx context.Context, id int64) error {
	run, err := r.DB.Run(ctx, id)
	if err != nil {
		return err
	}
	if run.InstallationID == nil || run.Status != store.StatusSuccess {
		return nil
	}
	arts, err := r.DB.Artifacts(ctx, id)
	if err != nil {
		return err
	}
	if len(arts) == 0 {
		return nil
	}
	dir, err := r.runDir(run.ID)
	if err != nil {
		return err
	}
	draft, err := r.fromFork(ctx, run)
	if err != nil {
		return err
	}
	assets, split, err := r.assets(ctx, run, arts, dir)
	if err != nil {
		return err
	}
	rel, err := r.release(ctx, run, assets, split, draft)
	if err != nil {
		return err
	}
	existing, err := r.listAssets(ctx, run, rel.GetID())
	if err != nil {
		return err
	}
	for _, a := range assets {
		url, err := r.upload(ctx, run, rel, a, existing)
		if err != nil {
			return err
		}
		switch {
		case a.artifactID != 0:
			if err := r.DB.SetArtifactURL(ctx, a.artifactID, url); err != nil {
				return err
			}
		case a.name == "build.log" || a.name == "SHA256SUMS":
			// Listed with the run's downloads from now on.
			typ := store.ArtifactLog
			if a.name == "SHA256SUMS" {
				typ = store.ArtifactChecksums
			}
			if err := r.DB.AddArtifact(ctx, &store.Artifact{RunID: run.ID, Name: a.name, Type: typ, Location: a.path, Size: a.size,
				SHA256: a.sha256, URL: url}); err != nil {
				return err
			}
		}
	}
	relID, relURL, notFinal := rel.GetID(), rel.GetHTMLURL(), false
	// The check run shows the links: its final sync runs again.
	return r.DB.RecordReport(ctx, id, store.ReportUpdate{ReleaseID: &relID, ReleaseURL: &relURL, ReleaseDraft: &draft, ReportedFinal: &notFinal})
}

// assets lists what to publish: the artifacts (in parts when too large),
// the build log and SHA256SUMS, both written next to the artifacts.
func (r *Releases) assets(ctx context.Context, run *store.Run, arts []store.Artifact, dir string) ([]asset, []string, error) {
	part := r.PartSize
	if part <= 0 {
		part = MaxAsset - 1<<20
	}
	var out []asset
	var split []string
	for _, a := range arts {
		if !published(a) {
			continue
		}
		if err := inDir(a, dir); err != nil {
			return nil, nil, err
		}
		fi, err := os.Stat(a.Location)
		if err != nil {
			return nil, nil, fmt.Errorf("artifact %s: %w", a.Name, err)
		}
		if fi.Size() < MaxAsset && fi.Size() <= part {
			out = append(out, asset{name: a.Name, path: a.Location, size: fi.Size(), sha256: a.SHA256, artifactID: a.ID})
			continue
		}
		split = append(split, a.Name)
		n := 0
		for off := int64(0); off < fi.Size(); off += part {
			n++
			size := min(part, fi.Size()-off)
			sum, err := hashSection(a.Location, off, size)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, asset{name: fmt.Sprintf("%s.part%02d", a.Name, n), path: a.Location, offset: off, size: size, sha256: sum})
		}
	}
	logPath := filepath.Join(dir, "build.log")
	if err := r.writeLog(ctx, run.ID, dir, logPath); err != nil {
		return nil, nil, err
	}
	if a, err := fileAsset("build.log", logPath); err != nil {
		return nil, nil, err
	} else {
		out = append(out, a)
	}
	// SHA256SUMS covers whole files (parts are checked after reassembly)
	// and the parts too.
	var lines []string
	for _, a := range arts {
		if published(a) {
			lines = append(lines, a.SHA256+"  "+a.Name)
		}
	}
	for _, a := range out {
		if strings.Contains(a.name, ".part") || a.name == "build.log" {
			lines = append(lines, a.sha256+"  "+a.name)
		}
	}
	sort.Strings(lines)
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := replaceFile(dir, sums, func(f *os.File) error {
		_, err := f.WriteString(strings.Join(lines, "\n") + "\n")
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("write SHA256SUMS: %w", err)
	}
	a, err := fileAsset("SHA256SUMS", sums)
	if err != nil {
		return nil, nil, err
	}
	return append(out, a), split, nil
}

// published reports whether an artifact of the pipeline is a release
// asset as it is (the build log and SHA256SUMS are written anew; an image
// reference names a registry image, not a file).
func published(a store.Artifact) bool {
	return a.Type != store.ArtifactDockerImageRef && a.Type != store.ArtifactLog && a.Type != store.ArtifactChecksums
}

// runDir is run id's own directory.
func (r *Releases) runDir(id int64) (string, error) {
	if !filepath.IsAbs(r.ArtifactsDir) {
		return "", fmt.Errorf("releases: the artifacts directory %q is not an absolute path", r.ArtifactsDir)
	}
	return filepath.Join(r.ArtifactsDir, fmt.Sprint(id)), nil
}

// inDir checks that artifact a is a file of the run's own directory dir:
// a relative location (a relative DATA_DIR) or one in another run's
// directory (a cache hit recorded before runs had their own copies) is
// an error, never a silent omission nor another run's file.
func inDir(a store.Artifact, dir string) error {
	if !filepath.IsAbs(a.Location) {
		return fmt.Errorf("artifact %s: location %q is not an absolute path: not published", a.Name, a.Location)
	}
	if filepath.Dir(filepath.Clean(a.Location)) != dir {
		return fmt.Errorf("artifact %s: %q is not in the run's directory %s: not published", a.Name, a.Location, dir)
	}
	return nil
}

// replaceFile writes path anew through a temporary file in dir and a
// rename: an existing path (possibly a hard link shared with another
// run's file) is replaced, never written through.
func replaceFile(dir, path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func fileAsset(name, path string) (asset, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return asset{}, err
	}
	sum, err := hashSection(path, 0, fi.Size())
	if err != nil {
		return asset{}, err
	}
	return asset{name: name, path: path, size: fi.Size(), sha256: sum}, nil
}

func hashSection(path string, off, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, size)); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeLog writes the run's whole log, one line per record, to path in
// the run's directory dir.
func (r *Releases) writeLog(ctx context.Context, id int64, dir, path string) error {
	err := replaceFile(dir, path, func(f *os.File) error {
		w := bufio.NewWriter(f)
		after := int64(0)
		for {
			lines, err := r.DB.Logs(ctx, id, after, 5000)
			if err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintf(w, "%s %-14s %-5s %s\n", l.At.UTC().Format(time.RFC3339), l.Step, l.Level, l.Message)
				after = l.ID
			}
			if len(lines) < 5000 {
				return w.Flush()
			}
		}
	})
	if err != nil {
		return fmt.Errorf("build log: %w", err)
	}
	return nil
}

// release returns the run's release, creating it when it is missing: a
// draft when draft is set (a pull request from a fork).
func (r *Releases) release(ctx context.Context, run *store.Run, assets []asset, split []string, draft bool) (*gh.RepositoryRelease, error) {
	c, owner, name, err := r.App.repoClient(*run.InstallationID, run.Repo)
	if err != nil {
		return nil, err
	}
	tag := Tag(run)
	// The tag has a slash: it is escaped in the path (go-github's
	// GetReleaseByTag does not).
	req, err := c.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/releases/tags/%s", owner, name, url.PathEscape(tag)), nil)
	if err != nil {
		return nil, err
	}
	rel := new(gh.RepositoryRelease)
	resp, err := c.Do(req, rel)
	if err == nil {
		return rel, nil
	}
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		return nil, fmt.Errorf("get release %s: %w", tag, err)
	}
	if draft {
		if rel, err := r.draftByTag(ctx, run, tag); err != nil || rel != nil {
			return rel, err
		}
	}
	notes := &render.ReleaseNotes{RunID: run.ID, Link: r.Link, SpecPath: run.SpecPath, HeadSHA: run.HeadSHA, Trigger: string(run.Trigger),
		Warnings: run.Warnings, Split: split, Draft: draft}
	for _, f := range []struct{ k, v string }{{"base", run.Base}, {"kernel", run.KernelVersion}, {"init", run.InitSystem},
		{"architecture", run.Architecture}, {"kernel hardening", run.SecurityLevel}} {
		if f.v != "" {
			notes.Facts = append(notes.Facts, struct{ K, V string }{f.k, f.v})
		}
	}
	for _, a := range assets {
		notes.Files = append(notes.Files, render.Download{Name: a.name, Size: a.size, SHA256: a.sha256})
	}
	body, err := r.Reports.Release(notes)
	if err != nil {
		return nil, err
	}
	pre := run.Trigger == store.TriggerPullRequest || (run.Number != nil && strings.HasPrefix(run.Ref, "refs/pull/"))
	rel, _, err = c.Repositories.CreateRelease(ctx, owner, name, &gh.RepositoryRelease{
		TagName: gh.String(tag), TargetCommitish: gh.String(run.HeadSHA), Name: gh.String(fmt.Sprintf("Linux build %s (run %d)", short(run.HeadSHA), run.ID)),
		Body: gh.String(body), Prerelease: gh.Bool(pre || draft), Draft: gh.Bool(draft),
	})
	if err != nil {
		return nil, fmt.Errorf("create release %s: %w", tag, err)
	}
	return rel, nil
}

func (r *Releases) listAssets(ctx context.Context, run *store.Run, releaseID int64) (map[string]ghAsset, error) {
	c, owner, name, err := r.App.repoClient(*run.InstallationID, run.Repo)
	if err != nil {
		return nil, err
	}
	out := map[string]ghAsset{}
	for page := 1; page <= 10; page++ {
		req, err := c.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/releases/%d/assets?per_page=100&page=%d", owner, name, releaseID, page), nil)
		if err != nil {
			return nil, err
		}
		var list []ghAsset
		resp, err := c.Do(req, &list)
		if err != nil {
			return nil, fmt.Errorf("list release assets: %w", err)
		}
		for _, a := range list {
			out[a.Name] = a
		}
		if resp.NextPage == 0 {
			break
		}
	}
	return out, nil
}

// upload publishes one asset and returns its download URL.
func (r *Releases) upload(ctx context.Context, run *store.Run, rel *gh.RepositoryRelease, a asset, existing map[string]ghAsset) (string, error) {
	owner, name, err := splitRepo(run.Repo)
	if err != nil {
		return "", err
	}
	c, err := r.App.uploadClient(*run.InstallationID)
	if err != nil {
		return "", err
	}
	if prev, ok := existing[a.name]; ok {
		if prev.State == "uploaded" && prev.Digest == "sha256:"+a.sha256 && prev.Size == a.size {
			return prev.BrowserDownloadURL, nil // already there: kept
		}
		if err := r.deleteAsset(ctx, run, prev.ID); err != nil {
			return "", err
		}
	}
	retries := r.Retries
	if retries <= 0 {
		retries = 3
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	for attempt := 1; ; attempt++ {
		f, err := os.Open(a.path)
		if err != nil {
			return "", err
		}
		u := fmt.Sprintf("repos/%s/%s/releases/%d/assets?name=%s", owner, name, rel.GetID(), url.QueryEscape(a.name))
		req, err := c.NewUploadRequest(ctx, u, io.NewSectionReader(f, a.offset, a.size), a.size, "application/octet-stream")
		if err != nil {
			f.Close()
			return "", err
		}
		if a.size == 0 {
			// An empty body must still say Content-Length: 0 (Go sends an
			// empty non-nil body chunked, which GitHub refuses).
			req.Body, req.GetBody = http.NoBody, nil
		}
		var got ghAsset
		resp, err := c.Do(req, &got)
		f.Close()
		if err == nil {
			return got.BrowserDownloadURL, nil
		}
		var ge *gh.ErrorResponse
		serverErr := resp != nil && resp.StatusCode >= 500 || !errors.As(err, &ge) && ctx.Err() == nil
		if !serverErr || attempt > retries {
			return "", fmt.Errorf("upload %s: %w", a.name, err)
		}
		log.WarnContext(ctx, "upload failed; deleting the partial asset and retrying", "run_id", run.ID, "asset", a.name, "attempt", attempt, "err", err)
		// GitHub may keep a partial ("starter") asset of that name.
		left, lerr := r.listAssets(ctx, run, rel.GetID())
		if lerr != nil {
			return "", lerr
		}
		if p, ok := left[a.name]; ok {
			if err := r.deleteAsset(ctx, run, p.ID); err != nil {
				return "", err
			}
		}
		if err := sleepCtx(ctx, time.Duration(attempt)*time.Second); err != nil {
			return "", err
		}
	}
}

func (r *Releases) deleteAsset(ctx context.Context, run *store.Run, id int64) error {
	c, owner, name, err := r.App.repoClient(*run.InstallationID, run.Repo)
	if err != nil {
		return err
	}
	if _, err := c.Repositories.DeleteReleaseAsset(ctx, owner, name, id); err != nil {
		return fmt.Errorf("delete release asset %d: %w", id, err)
	}
	return nil
}
