package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Names of the files every completed run writes for itself.
const (
	BuildLogName  = "build.log"
	ChecksumsName = "SHA256SUMS"
)

// writeRunFiles writes the run's own files into its directory and records
// them as artifacts, once every other artifact is there: build.log (the
// run's whole log as the store has it) and SHA256SUMS (of every file
// artifact, build.log included). A retried job writes them anew.
func (r *execution) writeRunFiles(ctx context.Context) error {
	r.logs.Flush(ctx)
	logPath := filepath.Join(r.dir, BuildLogName)
	if err := writeFileAtomic(logPath, func(w *bufio.Writer) error {
		return r.p.cfg.Store.EachLog(ctx, r.rec.ID, func(l LogLine) error {
			_, err := fmt.Fprintf(w, "%s %-14s %-5s %s\n", l.At.UTC().Format(time.RFC3339), l.Step, l.Level, l.Message)
			return err
		})
	}); err != nil {
		return fmt.Errorf("write %s: %w", BuildLogName, err)
	}
	if err := r.addFileArtifact(ctx, BuildLogName, run.ArtifactLog); err != nil {
		return err
	}
	lines, err := checksumLines(r.arts)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(r.dir, ChecksumsName), func(w *bufio.Writer) error {
		_, err := w.WriteString(strings.Join(lines, ""))
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", ChecksumsName, err)
	}
	return r.addFileArtifact(ctx, ChecksumsName, run.ArtifactChecksum)
}

// checksumLines are SHA256SUMS's lines ("<sha256>  <name>\n", sorted) for
// the file artifacts of arts: not an image reference (a registry name),
// not SHA256SUMS itself, and the last record of each name. A file
// recorded without its digest is hashed.
func checksumLines(arts []Artifact) ([]string, error) {
	byName := map[string]Artifact{}
	for _, a := range arts {
		if a.Type == run.ArtifactImageRef || a.Type == run.ArtifactChecksum {
			continue
		}
		byName[a.Name] = a
	}
	lines := make([]string, 0, len(byName))
	for _, a := range byName {
		if a.SHA256 == "" {
			_, sum, err := hashFile(a.Path)
			if err != nil {
				return nil, fmt.Errorf("artifact %s: %w", a.Name, err)
			}
			a.SHA256 = sum
		}
		lines = append(lines, a.SHA256+"  "+a.Name+"\n")
	}
	sort.Strings(lines)
	return lines, nil
}

// writeFileAtomic writes path through a temporary file next to it and a
// rename: an existing path (possibly a hard link shared with another
// run's file) is replaced, never written through, and a reader never sees
// half a file.
func writeFileAtomic(path string, write func(*bufio.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o640)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		if rerr := os.Remove(f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
