package iso

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// The image's exported file system is hostile: a spec's postInstall
// scripts decide every byte of it. It is never unpacked on the host. The
// rewriter reads it as a tar stream and writes the live system's tar for
// the squashfs writer, and nothing it reads ever names a host path:
//
//   - names are cleaned; names that climb out of the root ("..") are dropped;
//   - device nodes, FIFOs and unknown entry types are dropped;
//   - hard links must name an entry already written, else they are dropped;
//   - /boot, /dev, /proc, /sys, /run and /tmp keep only their directory;
//   - the files the ISO owns (machine-id, hostname, hosts, the boot-test
//     marker) are dropped from the image and appended by the rewriter, and
//     the directories above them are forced to be directories;
//   - SSH host keys (/etc/ssh/ssh_host_*) and links naming one are dropped:
//     each machine makes its own at boot (see hostKey);
//   - regular files under /boot (the kernel and initramfs) are captured,
//     with size and count caps, into files the rewriter creates itself; the
//     three records under /etc/linux-builder are kept in memory (64 KiB
//     each); links to them are resolved inside the tar's own namespace (see
//     tree.resolve), which holds only /etc, /etc/linux-builder and /boot.
//
// Everything is bounded: entries, bytes read, bytes and files captured;
// the names of the image are not kept (a keyed hash of each is).

// Limits bound what one image may make the rewriter do.
type Limits struct {
	MaxEntries   int   // entries in the image; default 1,000,000
	MaxBytes     int64 // bytes of file content read from the image; default 32 GiB
	MaxBootFile  int64 // one captured file under /boot; default 512 MiB
	MaxBootTotal int64 // all captured files under /boot; default 2 GiB
	MaxBootFiles int   // captured files under /boot; default 64
}

// maxRecordBytes bounds one record file under /etc/linux-builder.
const maxRecordBytes = 64 << 10

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1_000_000
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 32 << 30
	}
	if l.MaxBootFile <= 0 {
		l.MaxBootFile = 512 << 20
	}
	if l.MaxBootTotal <= 0 {
		l.MaxBootTotal = 2 << 30
	}
	if l.MaxBootFiles <= 0 {
		l.MaxBootFiles = 64
	}
	return l
}

// emptied are the directories the live system needs but not their
// contents: the kernel files are on the ISO, the rest are mounted at boot.
var emptied = map[string]os.FileMode{"boot": 0o755, "dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755, "tmp": 0o1777}

// owned are the files the ISO step writes itself; the image's are dropped.
var owned = map[string]bool{".dockerenv": true, "etc/machine-id": true, "etc/hostname": true, "etc/hosts": true}

// hostKeyPrefix names the SSH host keys. The spec image's build removes
// them (internal/render: removeHostKeys), and every machine makes its own
// at boot; a postInstall script could make them again, and every machine
// booting the image would then share them with anyone who downloads it.
const hostKeyPrefix = "etc/ssh/ssh_host_"

// droppedHostKey is the reason the rewriter gives for them.
const droppedHostKey = "an SSH host key or a link to one"

// hostKey reports whether an entry is an SSH host key (or anything under
// a directory of such a name), or a link to one: a hard link whose target
// is one, a symbolic link whose target names one once resolved lexically
// from the link's directory (the image's other links are not followed: a
// link the check misses names, on a machine, the key that machine made).
func hostKey(name string, hdr *tar.Header) bool {
	switch {
	case strings.HasPrefix(name, hostKeyPrefix):
		return true
	case hdr.Typeflag == tar.TypeLink:
		target, _ := clean(hdr.Linkname)
		return strings.HasPrefix(target, hostKeyPrefix)
	case hdr.Typeflag == tar.TypeSymlink:
		target := hdr.Linkname
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(name), target)
		}
		// Cleaned from the root: ".." there stays there, as on a machine.
		return strings.HasPrefix(path.Clean("/" + target)[1:], hostKeyPrefix)
	}
	return false
}

// records are the files under /etc/linux-builder the ISO step reads; only
// they are kept in memory.
var recordFiles = map[string]bool{recordDir + "/boot-files": true, recordDir + "/kernel-cmdline": true, recordDir + "/hostname": true}

const (
	recordDir = "etc/linux-builder"
)

// entry is what the rewriter remembers of one entry of the image.
type entry struct {
	typ     byte   // tar.TypeReg, TypeDir, TypeSymlink or TypeLink
	link    string // symlink target (verbatim) or hard-link target (cleaned)
	size    int64
	capture string // path of the captured copy ("" when not captured)
	record  []byte // contents of a captured record file
	tooBig  bool   // a regular file under /boot or a record over its cap
}

// tree is the part of the image's namespace the ISO step resolves names
// in: /etc, /etc/linux-builder and what is under it, /boot with what is
// under it, and the boot loaders' directories (loaders.go) with the
// directories above them. A resolution that leaves it finds nothing
// (fails closed).
type tree struct {
	entries map[string]*entry
}

// indexed reports whether name belongs in the tree.
func indexed(name string) bool {
	return name == "etc" || under(name, recordDir) || under(name, "boot") || aboveLoaders(name) || underLoaders(name)
}

// Rewritten is what the rewriter found in the image.
type Rewritten struct {
	tree    tree
	Dropped map[string]int // reason → count of entries dropped
	Entries int            // entries written
	ownFrom int            // entries before the ISO step's own files
}

// extras are the entries the rewriter appends at the end of the stream.
type extras func(found *Rewritten) ([]file, error)

// file is an entry the ISO step adds to the live system.
type file struct {
	name string
	mode int64
	typ  byte
	body string // contents, or the target of a symlink
}

// rewriter holds one stream's state.
type rewriter struct {
	// installed rewrites for an installed system (a disk image) rather
	// than a live one: /boot keeps its contents (captured as well), and
	// /etc/fstab is the step's own.
	installed bool
	lim       Limits
	captureTo string // directory for captured files (the ISO step's own)
	forceDirs map[string]bool
	out       *tar.Writer
	found     *Rewritten
	read      int64
	captured  int64
	nCaptured int
	// seen holds every name written or captured, by a keyed hash (names
	// are not kept: an image may have a million long ones): its type,
	// for duplicates, hard-link targets and the directories written.
	seen map[uint64]byte
	seed maphash.Seed
	// indexBytes counts what the tree holds; indexFull is set past the cap.
	indexBytes int
	indexFull  bool
}

func (rw *rewriter) key(name string) uint64 { return maphash.String(rw.seed, name) }

// maxIndexBytes bounds the names and link targets the tree keeps (of
// /etc, /etc/linux-builder and /boot: a real image has a few dozen).
const maxIndexBytes = 4 << 20

// index records name in the tree when the ISO step may resolve it; past
// maxIndexBytes it records the overflow, which fails the rewrite.
func (rw *rewriter) index(name string, e *entry) {
	if !indexed(name) {
		return
	}
	rw.indexBytes += len(name) + len(e.link) + 64
	if rw.indexBytes > maxIndexBytes {
		rw.indexFull = true
		return
	}
	rw.found.tree.entries[name] = e
}

// rewrite copies the image's tar from r to w as the live system's tar,
// capturing the boot files into captureTo, and appends what add returns
// once the whole image has been read. forceDirs are the directories that
// must be directories (the parents of the files add may return).
func rewrite(r io.Reader, w io.Writer, captureTo string, lim Limits, forceDirs []string, add extras) (*Rewritten, error) {
	return rewriteAs(false, r, w, captureTo, lim, forceDirs, add)
}

// rewriteAs is rewrite for a live system (installed false) or an
// installed one (see rewriter.installed).
func rewriteAs(installed bool, r io.Reader, w io.Writer, captureTo string, lim Limits, forceDirs []string, add extras) (*Rewritten, error) {
	rw := &rewriter{
		installed: installed,
		lim:       lim.withDefaults(),
		captureTo: captureTo,
		forceDirs: map[string]bool{},
		out:       tar.NewWriter(w),
		found:     &Rewritten{tree: tree{entries: map[string]*entry{}}, Dropped: map[string]int{}},
		seen:      map[uint64]byte{},
		seed:      maphash.MakeSeed(),
	}
	for _, d := range forceDirs {
		for p := d; p != "." && p != "/"; p = path.Dir(p) {
			rw.forceDirs[p] = true
		}
	}
	in := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the image's tar stream (entry %d): %w", n+1, err)
		}
		if n >= rw.lim.MaxEntries {
			return nil, fmt.Errorf("the image has more than %d entries", rw.lim.MaxEntries)
		}
		if err := rw.entry(hdr, in); err != nil {
			return nil, err
		}
		if rw.indexFull {
			return nil, fmt.Errorf("the image's /boot and /etc/linux-builder hold more than %d bytes of names", maxIndexBytes)
		}
	}
	// Directories the live system needs that the image lacks.
	for _, d := range sortedKeys(emptied) {
		if rw.seen[rw.key(d)] != tar.TypeDir {
			if err := rw.writeDir(d, int64(emptied[d]), nil); err != nil {
				return nil, err
			}
		}
	}
	rw.found.ownFrom = rw.found.Entries
	files, err := add(rw.found)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := rw.add(f); err != nil {
			return nil, err
		}
	}
	if err := rw.out.Close(); err != nil {
		return nil, fmt.Errorf("write the live system's tar stream: %w", err)
	}
	return rw.found, nil
}

// clean turns a tar name into a relative, slash-separated name inside the
// root, or "" when it names the root itself or climbs out of it.
func clean(name string) (string, bool) {
	name = strings.TrimLeft(name, "/")
	if name == "" {
		return "", true
	}
	c := path.Clean(name)
	if c == "." {
		return "", true
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// under reports whether name is dir or inside it.
func under(name, dir string) bool {
	return name == dir || strings.HasPrefix(name, dir+"/")
}

func (rw *rewriter) drop(reason string) { rw.found.Dropped[reason]++ }

// emptiedEntry handles an entry in a directory that keeps only itself
// (/boot's files are captured, not written).
func (rw *rewriter) emptiedEntry(name, top string, hdr *tar.Header, body io.Reader) error {
	if name == top {
		mode := int64(emptied[top])
		if hdr.Typeflag == tar.TypeDir {
			mode = hdr.Mode & 0o7777
		}
		rw.index(name, &entry{typ: tar.TypeDir})
		return rw.writeDir(name, mode, hdr)
	}
	if top == "boot" {
		return rw.captureBoot(name, hdr, body)
	}
	rw.drop("inside an emptied directory")
	return nil
}

// ownedName reports whether the step writes name itself (the image's
// entry is dropped).
func (rw *rewriter) ownedName(name string) bool {
	return owned[name] || (rw.installed && installedOwned[name]) || ownedMarker(name)
}

func (rw *rewriter) entry(hdr *tar.Header, body io.Reader) error {
	name, ok := clean(hdr.Name)
	if !ok || strings.ContainsRune(hdr.Name, 0) {
		rw.drop("name outside the root")
		return nil
	}
	if name == "" {
		return nil // the root: the squashfs has its own
	}
	if _, dup := rw.seen[rw.key(name)]; dup {
		rw.drop("duplicate name")
		return nil
	}
	top, _, _ := strings.Cut(name, "/")
	if _, isEmptied := emptied[top]; isEmptied && (!rw.installed || top != "boot") {
		return rw.emptiedEntry(name, top, hdr, body)
	}
	if rw.ownedName(name) {
		if rw.installed {
			rw.drop("owned by the disk step")
		} else {
			rw.drop("owned by the ISO step")
		}
		return nil
	}
	if hostKey(name, hdr) {
		rw.drop(droppedHostKey)
		return nil
	}
	if rw.forceDirs[name] && hdr.Typeflag != tar.TypeDir {
		rw.index(name, &entry{typ: tar.TypeDir})
		return rw.writeDir(name, 0o755, nil)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		rw.index(name, &entry{typ: tar.TypeDir})
		return rw.writeDir(name, hdr.Mode&0o7777, hdr)
	case tar.TypeSymlink:
		rw.index(name, &entry{typ: tar.TypeSymlink, link: hdr.Linkname})
		rw.seen[rw.key(name)] = tar.TypeSymlink
		return rw.write(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: hdr.Linkname, Mode: 0o777},
			hdr, nil)
	case tar.TypeLink:
		target, ok := clean(hdr.Linkname)
		if !ok || target == "" || rw.seen[rw.key(target)] != tar.TypeReg {
			rw.drop("hard link to a name not in the image")
			return nil
		}
		rw.index(name, &entry{typ: tar.TypeLink, link: target})
		rw.seen[rw.key(name)] = tar.TypeLink
		return rw.write(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}, hdr, nil)
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives write TypeRegA
		if hdr.Size < 0 {
			return fmt.Errorf("image entry %q: negative size", name)
		}
		if err := rw.count(hdr.Size); err != nil {
			return err
		}
		src := io.Reader(body)
		e := &entry{typ: tar.TypeReg, size: hdr.Size}
		if recordFiles[name] {
			// A record is read whole (it is small) and written from memory.
			if hdr.Size > maxRecordBytes {
				e.tooBig = true
			} else {
				b, err := io.ReadAll(io.LimitReader(body, hdr.Size))
				if err != nil {
					return fmt.Errorf("read image entry %q: %w", name, err)
				}
				e.record, src = b, bytes.NewReader(b)
			}
		}
		rw.index(name, e)
		rw.seen[rw.key(name)] = tar.TypeReg
		out := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: hdr.Size, Mode: hdr.Mode & 0o7777}
		if (rw.installed && top == "boot") || loaderFiles[name] {
			return rw.writeCaptured(name, out, hdr, src, e)
		}
		return rw.write(out, hdr, src)
	default:
		rw.drop(fmt.Sprintf("entry type %q (devices, FIFOs and the like)", hdr.Typeflag))
		return nil
	}
}

// count charges n bytes of file content against the image's budget.
func (rw *rewriter) count(n int64) error {
	rw.read += n
	if rw.read > rw.lim.MaxBytes {
		return fmt.Errorf("the image's files hold more than %d bytes (the limit)", rw.lim.MaxBytes)
	}
	return nil
}

// captureBoot keeps an entry under /boot for resolve (regular files to
// disk, within the caps; links as links). Nothing under /boot is written
// to the live system.
func (rw *rewriter) captureBoot(name string, hdr *tar.Header, body io.Reader) error {
	e := &entry{typ: hdr.Typeflag}
	switch hdr.Typeflag {
	case tar.TypeDir:
	case tar.TypeSymlink:
		e.link = hdr.Linkname
	case tar.TypeLink:
		target, ok := clean(hdr.Linkname)
		if !ok || target == "" {
			rw.drop("hard link to a name not in the image")
			return nil
		}
		e.link = target
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives write TypeRegA
		e.typ, e.size = tar.TypeReg, hdr.Size
		if hdr.Size < 0 {
			return fmt.Errorf("image entry %q: negative size", name)
		}
		if err := rw.count(hdr.Size); err != nil {
			return err
		}
		switch {
		case hdr.Size == 0: // nothing to keep: an empty kernel is refused anyway
		case hdr.Size > rw.lim.MaxBootFile || rw.captured+hdr.Size > rw.lim.MaxBootTotal || rw.nCaptured >= rw.lim.MaxBootFiles:
			e.tooBig = true // skipped by the tar reader
		default:
			rw.captured += hdr.Size
			rw.nCaptured++
			f, err := os.CreateTemp(rw.captureTo, "boot-file-")
			if err != nil {
				return fmt.Errorf("capture %q: %w", name, err)
			}
			_, err = io.Copy(f, io.LimitReader(body, hdr.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("capture %q: %w", name, err)
			}
			e.capture = f.Name()
		}
	default:
		rw.drop(fmt.Sprintf("entry type %q (devices, FIFOs and the like)", hdr.Typeflag))
		return nil
	}
	rw.index(name, e)
	rw.seen[rw.key(name)] = e.typ
	return nil
}

// writeCaptured writes a regular file under /boot of an installed system
// and, within the caps captureBoot applies, captures a copy of it as it
// streams past (the kernel and initramfs go to the ESP as well).
func (rw *rewriter) writeCaptured(name string, hdr, from *tar.Header, body io.Reader, e *entry) error {
	switch {
	case hdr.Size == 0:
		return rw.write(hdr, from, body)
	case hdr.Size > rw.lim.MaxBootFile || rw.captured+hdr.Size > rw.lim.MaxBootTotal || rw.nCaptured >= rw.lim.MaxBootFiles:
		e.tooBig = true
		return rw.write(hdr, from, body)
	}
	rw.captured += hdr.Size
	rw.nCaptured++
	f, err := os.CreateTemp(rw.captureTo, "boot-file-")
	if err != nil {
		return fmt.Errorf("capture %q: %w", name, err)
	}
	err = rw.write(hdr, from, io.TeeReader(body, f))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("capture %q: %w", name, cerr)
	}
	if err != nil {
		return err
	}
	e.capture = f.Name()
	return nil
}

func (rw *rewriter) writeDir(name string, mode int64, from *tar.Header) error {
	if rw.seen[rw.key(name)] == tar.TypeDir {
		return nil
	}
	rw.seen[rw.key(name)] = tar.TypeDir
	return rw.write(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}, from, nil)
}

// write writes hdr, taking owners, times and extended attributes (only
// those: no other PAX record) from the image's header when there is one.
func (rw *rewriter) write(hdr *tar.Header, from *tar.Header, body io.Reader) error {
	hdr.Format = tar.FormatPAX
	hdr.ModTime = time.Unix(0, 0)
	if from != nil {
		hdr.Uid, hdr.Gid = from.Uid, from.Gid
		if !from.ModTime.IsZero() && from.ModTime.Unix() >= 0 {
			hdr.ModTime = from.ModTime.Truncate(time.Second)
		}
		for k, v := range from.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				if hdr.PAXRecords == nil {
					hdr.PAXRecords = map[string]string{}
				}
				hdr.PAXRecords[k] = v
			}
		}
	}
	// Owners the squashfs cannot hold (it keeps 32 bits, and tar2sqfs
	// would wrap them, to root among others) become nobody.
	if hdr.Uid < 0 || hdr.Uid > math.MaxUint32-1 {
		hdr.Uid = 65534
	}
	if hdr.Gid < 0 || hdr.Gid > math.MaxUint32-1 {
		hdr.Gid = 65534
	}
	if err := rw.out.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %q to the live system's tar stream: %w", hdr.Name, err)
	}
	rw.found.Entries++
	if body == nil || hdr.Size == 0 {
		return nil
	}
	if _, err := io.CopyN(rw.out, body, hdr.Size); err != nil {
		return fmt.Errorf("copy %q from the image: %w", hdr.Name, err)
	}
	return nil
}

// add appends one of the ISO step's own files.
func (rw *rewriter) add(f file) error {
	for _, d := range parents(f.name) {
		switch rw.seen[rw.key(d)] {
		case tar.TypeDir:
		case 0:
			if err := rw.writeDir(d, 0o755, nil); err != nil {
				return err
			}
		default:
			// Not forced (see markerDirs): the image made it something else.
			return fmt.Errorf("/%s is not a directory in the image: the step cannot add /%s", d, f.name)
		}
	}
	if f.typ == tar.TypeDir {
		return rw.writeDir(f.name, f.mode, nil) // a no-op when the image has it
	}
	hdr := &tar.Header{Typeflag: f.typ, Name: f.name, Mode: f.mode}
	var body io.Reader
	switch f.typ {
	case tar.TypeSymlink:
		hdr.Linkname = f.body
	default:
		hdr.Size = int64(len(f.body))
		body = strings.NewReader(f.body)
	}
	return rw.write(hdr, nil, body)
}

// parents lists the directories above name, outermost first.
func parents(name string) []string {
	var ps []string
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		ps = append([]string{d}, ps...)
	}
	return ps
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
