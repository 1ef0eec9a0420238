package report

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
)

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
	logAsset, err := fileAsset("build.log", logPath)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, logAsset)
	sums, err := writeSums(dir, arts, out)
	if err != nil {
		return nil, nil, err
	}
	return append(out, sums), split, nil
}

// writeSums writes SHA256SUMS in the run's directory dir: it covers whole
// files (parts are checked after reassembly), the parts too, and the
// build log.
func writeSums(dir string, arts []store.Artifact, out []asset) (asset, error) {
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
		return asset{}, fmt.Errorf("write SHA256SUMS: %w", err)
	}
	return fileAsset("SHA256SUMS", sums)
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
func replaceFile(dir, path string, write func(*os.File) error) (err error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// The temporary file is left only when the rename did not
			// happen.
			if rerr := os.Remove(f.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Chmod(0o640); err != nil {
		return errors.Join(err, f.Close())
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
	h := sha256.New()
	_, err = io.Copy(h, io.NewSectionReader(f, off, size))
	if err = errors.Join(err, f.Close()); err != nil {
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
			lines, err := r.Store.Logs(ctx, id, after, 5000)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if _, err := fmt.Fprintf(w, "%s %-14s %-5s %s\n", l.At.UTC().Format(time.RFC3339), l.Step, l.Level, l.Message); err != nil {
					return err
				}
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
