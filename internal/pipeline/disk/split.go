package disk

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// A disk image whose spec lists partitions besides the root (/home, /var,
// /srv…) gets an ext4 file system for each: the installed system's tar
// stream (the rewriter's output) is split by mount point on its way to
// the ext4 writers. An entry under a partition's mount point goes to that
// partition's stream with the mount point cut from its name; the rest,
// and each mount point itself (a directory of the file system it is
// mounted on, whose mode, owner and times its partition's top directory
// gets too), to the root's, or to the partition it is nested in. Names
// are the rewriter's: cleaned, relative, never from the host.

// route is the stream, of mounts (cleaned, relative: "home", "var/log"),
// that name belongs to, and its name there: -1 for the root. A mount
// point itself belongs to the file system it is mounted on.
func route(name string, mounts []string) (int, string) {
	n := strings.TrimSuffix(name, "/")
	best, rel := -1, n
	for i, m := range mounts {
		if n == m || !strings.HasPrefix(n, m+"/") {
			continue
		}
		if best < 0 || len(m) > len(mounts[best]) {
			best, rel = i, strings.TrimPrefix(n, m+"/")
		}
	}
	if strings.HasSuffix(name, "/") {
		rel += "/"
	}
	return best, rel
}

// errCrossLink is a hard link between two partitions, which no file
// system can hold.
var errCrossLink = errors.New("a hard link between two partitions")

// splitTar copies the tar stream r to outs: outs[0] is the root's, outs[i+1]
// the stream of mounts[i]. It reads r to its end, and closes every
// stream's tar (not the writers).
func splitTar(r io.Reader, outs []io.Writer, mounts []string) error {
	tws := make([]*tar.Writer, len(outs))
	for i, w := range outs {
		tws[i] = tar.NewWriter(w)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("split the file systems: %w", err)
		}
		i, rel := route(hdr.Name, mounts)
		if hdr.Typeflag == tar.TypeLink {
			j, target := route(hdr.Linkname, mounts)
			if j != i {
				return fmt.Errorf("%w: /%s and /%s (%s)", errCrossLink, clip(hdr.Name, 100), clip(hdr.Linkname, 100), partName(mounts, i, j))
			}
			hdr.Linkname = target
		}
		if k := slices.Index(mounts, strings.TrimSuffix(hdr.Name, "/")); k >= 0 && hdr.Typeflag == tar.TypeDir {
			// A mount point: its mode, owner and times are also those of
			// its partition's top directory (the file system's root).
			top := *hdr
			top.Name = "./"
			if err := tws[k+1].WriteHeader(&top); err != nil {
				return fmt.Errorf("split the file systems: %s: %w", fsName(mounts, k), err)
			}
		}
		hdr.Name = rel
		tw := tws[i+1]
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("split the file systems: %s: %w", fsName(mounts, i), err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("split the file systems: %s: %w", fsName(mounts, i), err)
		}
	}
	for i, tw := range tws {
		if err := tw.Close(); err != nil {
			return fmt.Errorf("split the file systems: %s: %w", fsName(mounts, i-1), err)
		}
	}
	// What follows the tar's end (padding) is read, so the writer ends.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("split the file systems: %w", err)
	}
	return nil
}

// fsName names stream i (-1: the root).
func fsName(mounts []string, i int) string {
	if i < 0 {
		return "the root file system"
	}
	return "the file system of /" + mounts[i]
}

func partName(mounts []string, i, j int) string {
	return fsName(mounts, i) + " and " + fsName(mounts, j)
}

// cleanMount is a spec's mount point as the rewriter's names have it:
// "/home/" → "home".
func cleanMount(m string) string {
	return strings.TrimPrefix(path.Clean("/"+m), "/")
}
