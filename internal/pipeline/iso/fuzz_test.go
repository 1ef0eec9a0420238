package iso

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// FuzzRewrite feeds arbitrary bytes to the tar-stream rewriter as an
// image export. It must never panic, and what it writes must hold the
// rewriter's promises: clean relative names, only regular files,
// directories and links, nothing inside the emptied directories, hard
// links only to regular files written before, no name twice, and the ISO
// step's own files only where it appended them. The resolver must answer
// any name without panicking and only with a captured file.
func FuzzRewrite(f *testing.F) {
	h := &host{file: "/etc/shadow", subdir: "/root"}
	seeds := [][]ent{image(), image(symlink("etc/machine-id", h.file)), without(image(symlink("boot", h.subdir)), "boot/"),
		image(symlink("boot/initrd.img-6.1.0-amd64", "../../../../proc/self/environ")),
		image(hardlink("root/x", "../../etc/passwd"), ent{name: "dev/sda", typ: tar.TypeBlock, major: 8}),
		image(symlink("boot/vmlinuz-6.1.0-amd64", "vmlinuz-b"), symlink("boot/vmlinuz-b", "vmlinuz-6.1.0-amd64")),
		image(reg("../../x", "y"), reg("a/../../b", "c"), hardlink("boot/vmlinuz-6.1.0-amd64", "boot/initrd.img-6.1.0-amd64"))}
	for _, s := range seeds {
		var buf bytes.Buffer
		if err := (tarExporter{entries: s}).Export(context.Background(), "", &buf); err != nil {
			f.Fatal(err)
		}
		// Without the end-of-archive padding (the reader stops at the last
		// entry all the same): small seeds keep the fuzzer fast.
		b := bytes.TrimRight(buf.Bytes(), "\x00")
		f.Add(b[:(len(b)+511)/512*512])
	}
	lim := Limits{MaxEntries: 10_000, MaxBytes: 1 << 20, MaxBootFile: 64 << 10, MaxBootTotal: 256 << 10, MaxBootFiles: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		found, err := rewrite(bytes.NewReader(data), &out, t.TempDir(), lim, append([]string{"etc"}, markerDirs()...), func(found *Rewritten) ([]file, error) {
			rec, err := readRecords(found.tree)
			if err != nil {
				rec = &records{hostname: "linux-builder", init: "openrc"}
			}
			return rec.liveFiles("LINUX-BUILDER-BOOT-OK run=1")
		})
		if err != nil {
			return
		}
		for _, name := range []string{"boot/vmlinuz", "/boot/../../x", "etc/linux-builder/boot-files", "a/b/c"} {
			if e, resolved, err := found.tree.resolve(name); err == nil {
				if e == nil || e.typ != tar.TypeReg {
					t.Fatalf("resolve(%q) = %+v at %q without an error", name, e, resolved)
				}
			}
			if p, err := found.tree.bootFile(name, lim.MaxBootFile); err == nil && !strings.HasPrefix(p, "/") {
				t.Fatalf("bootFile(%q) = %q", name, p)
			}
		}
		checkRewritten(t, out.Bytes(), found.ownFrom)
	})
}

func checkRewritten(t *testing.T, data []byte, ownFrom int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	seen := map[string]byte{}
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the rewriter wrote an unreadable tar: %v", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if c, ok := clean(name); !ok || c != name || name == "" {
			t.Fatalf("unclean name %q", hdr.Name)
		}
		if _, dup := seen[name]; dup {
			t.Fatalf("%q written twice", name)
		}
		seen[name] = hdr.Typeflag
		names = append(names, name)
		top, _, _ := strings.Cut(name, "/")
		if _, ok := emptied[top]; ok && name != top {
			t.Fatalf("%q is inside an emptied directory", name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
		case tar.TypeLink:
			if seen[hdr.Linkname] != tar.TypeReg {
				t.Fatalf("hard link %q → %q, not a regular file written before", name, hdr.Linkname)
			}
		default:
			t.Fatalf("%q has type %q", name, hdr.Typeflag)
		}
		for k := range hdr.PAXRecords {
			if !strings.HasPrefix(k, "SCHILY.xattr.") && k != "path" && k != "linkpath" && k != "size" &&
				k != "uid" && k != "gid" && k != "mtime" && k != "uname" && k != "gname" {
				t.Fatalf("%q carries the PAX record %q", name, k)
			}
		}
	}
	for i, name := range names {
		fromImage := i < ownFrom
		if fromImage && (owned[name] || ownedMarker(name)) {
			t.Fatalf("the image's own %q was kept", name)
		}
	}
}
