package disk

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
)

// needTools fails under CI=true when a tool is missing (scripts/setup.sh
// installs them all) and skips elsewhere.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (scripts/setup.sh installs it)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

var buildTools = []string{"e2fsck", "resize2fs", "tune2fs", "debugfs", "mformat", "mcopy", "mtype", "grub-mkstandalone", "qemu-img"}

// ent is one entry of a hand-made image export.
type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	size             int64 // declared size with a zero body (a huge file); 0: len(body)
	major            int64
	xattrs           int // extended attributes of 1 KiB each
}

// tarExporter "exports" a hand-made image.
type tarExporter struct{ entries []ent }

func (x tarExporter) Export(_ context.Context, _ string, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range x.entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Devmajor: e.major}
		for i := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords, hdr.Format = map[string]string{}, tar.FormatPAX
			}
			hdr.PAXRecords["SCHILY.xattr.user.a"+strconv.Itoa(i)] = strings.Repeat("v", 1024)
		}
		var body io.Reader = strings.NewReader(e.body)
		switch {
		case e.typ == tar.TypeReg && e.size > 0:
			hdr.Size, body = e.size, zeros{}
		case e.typ == tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Size > 0 {
			if _, err := io.CopyN(tw, body, hdr.Size); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func dir(name string) ent         { return ent{name: name + "/", typ: tar.TypeDir, mode: 0o755} }
func reg(name, body string) ent   { return ent{name: name, typ: tar.TypeReg, body: body} }
func symlink(name, to string) ent { return ent{name: name, typ: tar.TypeSymlink, link: to} }

const bootFiles = "KERNEL=/boot/vmlinuz-6.1.0-amd64\nINITRD=/boot/initrd.img-6.1.0-amd64\nINITRAMFS=initramfs-tools\nINIT=systemd\n"

// image is a small, well-formed export with the given entries replacing
// (same name) or added to the base ones.
func image(changes ...ent) []ent {
	base := []ent{
		dir("bin"), reg("bin/sh", "#!shell"), dir("etc"), reg("etc/machine-id", "0123456789abcdef\n"),
		reg("etc/hostname", "\n"), reg("etc/hosts", "\n"), reg("etc/fstab", "# the image's own\n/dev/sda1 / ext4 rw 0 0\n"),
		reg("etc/shadow", "root:SECRET-HASH:19000::::::\n"), dir("etc/linux-builder"),
		reg("etc/linux-builder/boot-files", bootFiles), reg("etc/linux-builder/kernel-cmdline", "quiet apparmor=1\n"),
		reg("etc/linux-builder/hostname", "box\n"), dir("etc/systemd"), dir("etc/systemd/system"),
		dir("etc/systemd/system/multi-user.target.wants"), dir("boot"),
		reg("boot/vmlinuz-6.1.0-amd64", "KERNEL-BYTES"), reg("boot/initrd.img-6.1.0-amd64", "INITRD-BYTES"),
		symlink("vmlinuz", "boot/vmlinuz-6.1.0-amd64"), dir("usr"), reg("usr/big", strings.Repeat("x", 3<<20)),
	}
	out := make([]ent, 0, len(base)+len(changes))
	replaced := map[string]bool{}
	for _, c := range changes {
		replaced[strings.TrimSuffix(c.name, "/")] = true
	}
	for _, b := range base {
		if !replaced[strings.TrimSuffix(b.name, "/")] {
			out = append(out, b)
		}
	}
	return append(out, changes...)
}

// gptParts reads the primary GPT of the disk at path, checking both
// CRCs, and returns each partition's type GUID and byte range.
type gptPart struct {
	typ         GUID
	start, size int64
}

func readGPT(t *testing.T, path string) []gptPart {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := make([]byte, sector)
	if _, err := f.ReadAt(h, sector); err != nil {
		t.Fatal(err)
	}
	if string(h[:8]) != "EFI PART" {
		t.Fatalf("no GPT header: %q", h[:8])
	}
	crc := binary.LittleEndian.Uint32(h[16:])
	hc := append([]byte(nil), h[:92]...)
	binary.LittleEndian.PutUint32(hc[16:], 0)
	if crc32.ChecksumIEEE(hc) != crc {
		t.Fatal("GPT header CRC mismatch")
	}
	entries := make([]byte, gptEntries*gptEntry)
	if _, err := f.ReadAt(entries, int64(binary.LittleEndian.Uint64(h[72:]))*sector); err != nil {
		t.Fatal(err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
		t.Fatal("GPT entries CRC mismatch")
	}
	info, _ := f.Stat()
	backup := int64(binary.LittleEndian.Uint64(h[32:]))
	if backup != info.Size()/sector-1 {
		t.Errorf("backup header at %d, disk has %d sectors", backup, info.Size()/sector)
	}
	bh := make([]byte, sector)
	if _, err := f.ReadAt(bh, backup*sector); err != nil || string(bh[:8]) != "EFI PART" {
		t.Fatalf("no backup GPT header (%v)", err)
	}
	var parts []gptPart
	for i := 0; i < gptEntries; i++ {
		e := entries[i*gptEntry : (i+1)*gptEntry]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		var m [16]byte
		copy(m[:], e[:16])
		// mixed → textual order
		g := GUID{m[3], m[2], m[1], m[0], m[5], m[4], m[7], m[6]}
		copy(g[8:], m[8:])
		first, last := int64(binary.LittleEndian.Uint64(e[32:])), int64(binary.LittleEndian.Uint64(e[40:]))
		parts = append(parts, gptPart{typ: g, start: first * sector, size: (last - first + 1) * sector})
	}
	return parts
}

// extract copies size bytes at off of the disk into a file of its own.
func extract(t *testing.T, disk string, off, size int64) string {
	t.Helper()
	in, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "part.img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.NewSectionReader(in, off, size)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return out
}

// debugfsCat reads a file of the ext4 at img (not following symlinks).
func debugfsCat(t *testing.T, img, name string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+name, img).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", name, err)
	}
	return string(out)
}

func debugfsStat(t *testing.T, img, name string) string {
	t.Helper()
	out, _ := exec.Command("debugfs", "-R", "stat "+name, img).CombinedOutput()
	return string(out)
}

func mtype(t *testing.T, disk string, off int64, name string) string {
	t.Helper()
	cmd := exec.Command("mtype", "-i", disk+"@@"+strconv.FormatInt(off, 10), "::/"+name)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mtype %s: %v: %s", name, err, out)
	}
	return string(out)
}

func build(t *testing.T, b *Builder, marker bool) (pipeline.DiskRequest, pipeline.DiskResult, []string, error) {
	t.Helper()
	dir := t.TempDir()
	req := pipeline.DiskRequest{Image: "img", Output: filepath.Join(dir, "linux.raw"), QCOW2: filepath.Join(dir, "linux.qcow2")}
	if marker {
		req.Marker, req.BootTestOutput = "LINUX-BUILDER-BOOT-OK run=7", filepath.Join(dir, "boot-test.raw")
	}
	var logs []string
	res, err := b.Build(context.Background(), req, func(l string) { logs = append(logs, l) })
	return req, res, logs, err
}

// A small image becomes a GPT disk with an ESP holding GRUB, its
// configuration, the kernel and initramfs, and an ext4 root holding the
// image (the hostile entries dropped), fstab by UUID and the marker
// armed only on the boot test's copy.
func TestBuildLaysOutABootableDisk(t *testing.T) {
	needTools(t, buildTools...)
	x := tarExporter{entries: image(
		ent{name: "dev/sda", typ: tar.TypeBlock, major: 8},
		ent{name: "etc/fifo", typ: tar.TypeFifo},
		reg("../../../outside", "climbed"),
		reg("/etc/../../escape", "climbed"),
		symlink("etc/evil", "/etc/shadow"),
	)}
	req, res, logs, err := build(t, &Builder{Exporter: x}, true)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs, "\n"))
	}
	for _, p := range []string{req.Output, req.QCOW2, req.BootTestOutput} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("output: %v", err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(req.Output))
	if len(entries) != 3 {
		t.Errorf("output directory holds %d files, want the 3 outputs (no work files left)", len(entries))
	}
	parts := readGPT(t, req.Output)
	if len(parts) != 3 || parts[0].typ != typeBIOSBoot || parts[1].typ != typeESP || parts[2].typ != typeLinuxX64 {
		t.Fatalf("partitions %+v", parts)
	}
	// GRUB's BIOS boot code: boot.img in the MBR pointing at core.img,
	// whose block list points at the rest of it; the partition table kept.
	raw := make([]byte, sector)
	rawBL := make([]byte, sector)
	if f, err := os.Open(req.Output); err == nil {
		_, _ = f.ReadAt(raw, 0)
		_, _ = f.ReadAt(rawBL, parts[0].start)
		f.Close()
	}
	if binary.LittleEndian.Uint64(raw[bootKernelSector:]) != uint64(parts[0].start/sector) || raw[450] != 0xEE ||
		raw[510] != 0x55 || binary.LittleEndian.Uint64(rawBL[blocklistStart:]) != uint64(parts[0].start/sector+1) {
		t.Errorf("BIOS boot code not installed")
	}
	parts = parts[1:]
	info, _ := os.Stat(req.Output)
	if info.Size() != res.Size || parts[1].start+parts[1].size > res.Size {
		t.Errorf("disk %d bytes, result %d, root ends at %d", info.Size(), res.Size, parts[1].start+parts[1].size)
	}

	// The ESP.
	esp := parts[0].start
	cfg := mtype(t, req.Output, esp, espDir+"/grub.cfg")
	if !strings.Contains(cfg, "root=UUID="+res.RootUUID) || !strings.Contains(cfg, "quiet apparmor=1") ||
		!strings.Contains(cfg, "console=ttyS0") || strings.Contains(cfg, "BOOT-OK") {
		t.Errorf("grub.cfg:\n%s", cfg)
	}
	// The marker is armed only on a machine with the boot test's SMBIOS
	// signal: the published disk and the boot test's copy are the same.
	if !strings.Contains(cfg, `if [ "$lb_family" = "`+pipeline.BootTestSMBIOSFamily+`" ]; then set lb_test=`+iso.BootTestParam+"; fi") ||
		strings.Count(cfg, iso.BootTestParam) != 1 || !strings.Contains(cfg, " $lb_test\n") {
		t.Errorf("grub.cfg does not gate the marker on the SMBIOS signal:\n%s", cfg)
	}
	a, _ := os.ReadFile(req.Output)
	b, _ := os.ReadFile(req.BootTestOutput)
	if !bytes.Equal(a, b) {
		t.Errorf("the boot test's disk differs from the published one")
	}
	if got := mtype(t, req.Output, esp, espDir+"/vmlinuz"); got != "KERNEL-BYTES" {
		t.Errorf("ESP kernel %q", got)
	}
	if got := mtype(t, req.Output, esp, espDir+"/initrd.img"); got != "INITRD-BYTES" {
		t.Errorf("ESP initrd %q", got)
	}
	if loader := mtype(t, req.Output, esp, "EFI/BOOT/BOOTX64.EFI"); !strings.HasPrefix(loader, "MZ") {
		t.Errorf("BOOTX64.EFI is not a PE image")
	}

	// The root file system.
	root := extract(t, req.Output, parts[1].start, parts[1].size)
	if out, err := exec.Command("e2fsck", "-f", "-n", root).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, out)
	}
	dump, _ := exec.Command("dumpe2fs", "-h", root).CombinedOutput()
	for _, want := range []string{"Filesystem UUID:          " + res.RootUUID, "has_journal", "Filesystem volume name:   root"} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("dumpe2fs lacks %q:\n%s", want, dump)
		}
	}
	if strings.Contains(string(dump), "read-only") {
		t.Errorf("the root file system is still marked read-only")
	}
	fstab := debugfsCat(t, root, "/etc/fstab")
	if !strings.Contains(fstab, "UUID="+res.RootUUID+"\t/\text4") || !strings.Contains(fstab, "/boot/efi\tvfat") || strings.Contains(fstab, "sda1") {
		t.Errorf("fstab:\n%s", fstab)
	}
	if got := debugfsCat(t, root, "/boot/vmlinuz-6.1.0-amd64"); got != "KERNEL-BYTES" {
		t.Errorf("/boot keeps its kernel: %q", got)
	}
	if got := debugfsCat(t, root, "/usr/big"); len(got) != 3<<20 {
		t.Errorf("/usr/big: %d bytes", len(got))
	}
	unit := debugfsCat(t, root, "/etc/systemd/system/linux-builder-boot-marker.service")
	if !strings.Contains(unit, "ConditionKernelCommandLine="+iso.BootTestParam) || !strings.Contains(unit, "LINUX-BUILDER-BOOT-OK run=7") {
		t.Errorf("marker unit:\n%s", unit)
	}
	if got := debugfsCat(t, root, "/etc/machine-id"); got != "" {
		t.Errorf("machine-id %q, want empty (made at first boot)", got)
	}
	for _, gone := range []string{"/dev/sda", "/etc/fifo", "/outside", "/escape"} {
		if st := debugfsStat(t, root, gone); !strings.Contains(st, "File not found") {
			t.Errorf("%s is in the root file system:\n%s", gone, st)
		}
	}
	if st := debugfsStat(t, root, "/boot/efi"); !strings.Contains(st, "Type: directory") {
		t.Errorf("/boot/efi:\n%s", st)
	}
	// The symbolic link is kept as a link (its target is the guest's).
	if st := debugfsStat(t, root, "/etc/evil"); !strings.Contains(st, "Type: symlink") {
		t.Errorf("/etc/evil:\n%s", st)
	}
	// Nothing climbed out on the host.
	for _, p := range []string{"/outside", "/escape", filepath.Join(filepath.Dir(req.Output), "..", "outside")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on the host", p)
		}
	}

	// The qcow2.
	out, err := exec.Command("qemu-img", "info", req.QCOW2).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "file format: qcow2") || !strings.Contains(string(out), "virtual size:") {
		t.Errorf("qemu-img info: %v\n%s", err, out)
	}
}

// Hostile images: each fails with an error that says what and where, and
// leaves no output.
func TestBuildRefusesHostileImages(t *testing.T) {
	needTools(t, buildTools...)
	for _, tc := range []struct {
		name    string
		entries []ent
		b       Builder
		want    string
	}{
		// /etc/shadow is not in the namespace the step resolves in: the
		// resolution fails closed.
		{"kernel links to /etc/shadow", image(symlink("boot/vmlinuz-6.1.0-amd64", "/etc/shadow")), Builder{}, "/etc/shadow: does not exist in the image"},
		{"kernel links up and out", image(symlink("boot/vmlinuz-6.1.0-amd64", "../../../../etc/shadow")), Builder{}, "/etc/shadow: does not exist in the image"},
		{"kernel links to a record", image(symlink("boot/vmlinuz-6.1.0-amd64", "/etc/linux-builder/hostname")), Builder{}, "outside /boot"},
		{"kernel is a directory", image(dir("boot/vmlinuz-6.1.0-amd64")), Builder{}, "not a regular file"},
		{"kernel is a device", image(ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeChar, major: 1}), Builder{}, "does not exist"},
		{"kernel over the cap", image(ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeReg, size: 5 << 20}),
			Builder{Limits: iso.Limits{MaxBootFile: 4 << 20}}, "over the limit"},
		{"image over the byte limit", image(ent{name: "usr/huge", typ: tar.TypeReg, size: 64 << 20}),
			Builder{Limits: iso.Limits{MaxBytes: 32 << 20}}, "more than 33554432 bytes"},
		{"image over the disk cap", image(ent{name: "usr/huge", typ: tar.TypeReg, size: 64 << 20}),
			Builder{MaxDiskBytes: 300 << 20}, "root file system (ext4)"},
		{"a name over 255 bytes", image(reg("usr/"+strings.Repeat("n", 300), "x")), Builder{}, "root file system (ext4): "},
		{"xattrs that fit no inode", image(ent{name: "usr/xattrs", typ: tar.TypeReg, body: "x", xattrs: 40}), Builder{}, "root file system (ext4): "},
		{"no boot-files record", image(reg("etc/linux-builder/boot-files", "")), Builder{}, "boot-files"},
		{"cmdline with GRUB script", image(reg("etc/linux-builder/kernel-cmdline", "quiet\"; }; menuentry x {\n")), Builder{}, "kernel-cmdline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			b.Exporter = tarExporter{entries: tc.entries}
			req, _, _, err := build(t, &b, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "SECRET-HASH") {
				t.Errorf("the error quotes the image's /etc/shadow: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(req.Output))
			if len(entries) != 0 {
				t.Errorf("a failed build left %d files", len(entries))
			}
		})
	}
}

// A disk size that leaves the root no room is refused before anything
// is written; one over the cap too.
func TestBuildRefusesSizes(t *testing.T) {
	needTools(t, buildTools...)
	for _, tc := range []struct {
		size int64
		want string
	}{
		{100 << 20, "leaves no room"},
		{260 << 20, "do not fit in"},
		{1 << 50, "the cap"},
	} {
		dir := t.TempDir()
		_, err := (&Builder{Exporter: tarExporter{entries: image()}}).Build(context.Background(),
			pipeline.DiskRequest{Image: "img", Output: filepath.Join(dir, "linux.raw"), Size: tc.size}, func(string) {})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("size %d: error %v, want %q", tc.size, err, tc.want)
		}
	}
}

// The ESP holds the image's boot loaders besides the kernel and the
// initramfs: an image whose shim or systemd-boot is large (each may be up
// to the /boot caps) gets an ESP they fit in, not a disk step that fails
// with mcopy's "disk full".
func TestESPFitsTheBootLoaders(t *testing.T) {
	dir := t.TempDir()
	sized := func(name string, n int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, n); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kernel, initrd := sized("vmlinuz", 10*mib), sized("initrd", 50*mib)
	shim, grub := sized("shimx64.efi", 300*mib), sized("grubx64.efi", 100*mib)
	esp, _, _, err := layout(0, defaultMaxDisk, 1<<30, 0, kernel, initrd, shim, "", grub, "")
	if err != nil {
		t.Fatal(err)
	}
	if need := int64(2 * (10 + 50 + 300 + 100) * mib); esp < need {
		t.Fatalf("ESP of %d MiB for %d MiB of files copied twice", esp/mib, need/mib)
	}
	if _, _, _, err := layout(0, defaultMaxDisk, 1<<30, 0, kernel, initrd, filepath.Join(dir, "gone.efi")); err == nil {
		t.Fatal("a loader that is not there was sized")
	}
}

// A spec's swap partition becomes partition 4, after the root, of the
// Linux swap type, holding a swap area (mkswap's header, its UUID) that
// fstab turns on by UUID; the root gets the asked size less the swap.
func TestBuildAddsTheSwapPartition(t *testing.T) {
	needTools(t, append(buildTools, "blkid")...)
	dir := t.TempDir()
	req := pipeline.DiskRequest{Image: "img", Output: filepath.Join(dir, "linux.raw"), Size: 1 << 30, Swap: 200 << 20}
	var logs []string
	res, err := (&Builder{Exporter: tarExporter{entries: image()}}).Build(context.Background(), req, func(l string) { logs = append(logs, l) })
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs, "\n"))
	}
	parts := readGPT(t, req.Output)
	if len(parts) != 4 || parts[2].typ != typeLinuxX64 || parts[3].typ != typeSwap {
		t.Fatalf("partitions %+v", parts)
	}
	swap := parts[3]
	if swap.size != 200<<20 || swap.start != parts[2].start+parts[2].size || swap.start+swap.size+tailBytes != res.Size || res.Size != 1<<30 {
		t.Fatalf("swap at %d, %d bytes; root ends at %d; disk %d bytes", swap.start, swap.size, parts[2].start+parts[2].size, res.Size)
	}
	area := extract(t, req.Output, swap.start, swap.size)
	out, err := exec.Command("blkid", "-p", "-o", "export", area).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TYPE=swap") || !strings.Contains(string(out), "LABEL=swap") {
		t.Fatalf("blkid of partition 4: %v\n%s", err, out)
	}
	var uuid string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "UUID="); ok {
			uuid = v
		}
	}
	root := extract(t, req.Output, parts[2].start, parts[2].size)
	if fstab := debugfsCat(t, root, "/etc/fstab"); uuid == "" || !strings.Contains(fstab, "UUID="+uuid+"\tnone\tswap\tsw,nofail\t0\t0\n") {
		t.Errorf("fstab does not turn on the swap (UUID %q):\n%s", uuid, fstab)
	}

	// A swap that leaves no room for the root is refused before anything
	// is written.
	req.Output = filepath.Join(dir, "too-small.raw")
	req.Swap = 1<<30 - 100<<20
	if _, err := (&Builder{Exporter: tarExporter{entries: image()}}).Build(context.Background(), req, func(string) {}); err == nil || !strings.Contains(err.Error(), "swap") {
		t.Fatalf("a swap leaving no room for the root: %v", err)
	}
	if _, err := os.Stat(req.Output); !os.IsNotExist(err) {
		t.Errorf("a refused disk left %s (%v)", req.Output, err)
	}
}

// Partitions besides the root (/home, /var, and /var/log nested in it)
// each get an ext4 file system holding the image's files under their
// mount point, after the root and before the swap, mounted by UUID; the
// mount points stay directories of the file system they are mounted on.
func TestBuildSplitsThePartitions(t *testing.T) {
	needTools(t, append(buildTools, "blkid")...)
	dir := t.TempDir()
	req := pipeline.DiskRequest{Image: "img", Output: filepath.Join(dir, "linux.raw"), Size: 2 << 30, Swap: 64 << 20,
		Partitions: []pipeline.DiskPartition{{Mount: "/home", Size: 100 << 20}, {Mount: "/var", Size: 200 << 20}, {Mount: "/var/log/", Size: 50 << 20}}}
	x := tarExporter{entries: image(
		ent{name: "home/", typ: tar.TypeDir, mode: 0o751}, dirEnt("home/alice"), reg("home/alice/notes", "ALICE"),
		dirEnt("var"), dirEnt("var/lib"), reg("var/lib/state", "STATE"), dirEnt("var/log"), reg("var/log/syslog", "LOG"),
		ent{name: "var/lib/same", typ: tar.TypeLink, link: "var/lib/state"},
	)}
	var logs []string
	res, err := (&Builder{Exporter: x}).Build(context.Background(), req, func(l string) { logs = append(logs, l) })
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs, "\n"))
	}
	parts := readGPT(t, req.Output)
	if len(parts) != 7 || parts[2].typ != typeLinuxX64 || parts[6].typ != typeSwap {
		t.Fatalf("partitions %+v", parts)
	}
	for i, p := range parts[3:6] {
		if p.typ != typeLinuxData || p.start != parts[2+i].start+parts[2+i].size {
			t.Fatalf("partition %d: %+v after %+v", 4+i, p, parts[2+i])
		}
	}
	if parts[6].start+parts[6].size+tailBytes != res.Size || res.Size != 2<<30 {
		t.Fatalf("swap ends at %d; disk %d bytes", parts[6].start+parts[6].size, res.Size)
	}
	fsOf := func(p gptPart) (img, uuid string) {
		img = extract(t, req.Output, p.start, p.size)
		if out, err := exec.Command("e2fsck", "-f", "-n", img).CombinedOutput(); err != nil {
			t.Fatalf("e2fsck: %v\n%s", err, out)
		}
		out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", img).Output()
		if err != nil {
			t.Fatal(err)
		}
		return img, strings.TrimSpace(string(out))
	}
	root, _ := fsOf(parts[2])
	home, homeUUID := fsOf(parts[3])
	varFS, varUUID := fsOf(parts[4])
	logFS, logUUID := fsOf(parts[5])
	for _, c := range []struct{ img, name, want string }{
		{home, "/alice/notes", "ALICE"}, {varFS, "/lib/state", "STATE"}, {varFS, "/lib/same", "STATE"}, {logFS, "/syslog", "LOG"},
	} {
		if got := debugfsCat(t, c.img, c.name); got != c.want {
			t.Errorf("%s in its partition: %q, want %q", c.name, got, c.want)
		}
	}
	// Each file is in one file system only; mount points are directories
	// of the file system they are mounted on.
	for _, c := range []struct{ img, name, want string }{
		{root, "/home/alice", "File not found"}, {root, "/var/lib", "File not found"}, {varFS, "/log/syslog", "File not found"},
		{root, "/home", "Type: directory"}, {root, "/var", "Type: directory"}, {varFS, "/log", "Type: directory"},
		// The partition's top directory is the mount point's.
		{root, "/home", "Mode:  0751"}, {home, "/", "Mode:  0751"},
	} {
		if st := debugfsStat(t, c.img, c.name); !strings.Contains(st, c.want) {
			t.Errorf("%s: want %q:\n%s", c.name, c.want, st)
		}
	}
	fstab := debugfsCat(t, root, "/etc/fstab")
	for _, want := range []string{"UUID=" + homeUUID + "\t/home\text4\tdefaults\t0\t2\n", "UUID=" + varUUID + "\t/var\text4\tdefaults\t0\t2\n",
		"UUID=" + logUUID + "\t/var/log\text4\tdefaults\t0\t2\n", "\tnone\tswap\t"} {
		if !strings.Contains(fstab, want) {
			t.Errorf("fstab lacks %q:\n%s", want, fstab)
		}
	}
}

// What a disk cannot hold is refused before anything is written: a hard
// link from one partition to another, a partition on a system directory,
// files over a partition's size.
func TestBuildRefusesWhatPartitionsCannotHold(t *testing.T) {
	needTools(t, buildTools...)
	for _, tc := range []struct {
		name    string
		entries []ent
		parts   []pipeline.DiskPartition
		want    string
	}{
		{"a hard link between partitions", image(dirEnt("home"), reg("home/a", "A"), ent{name: "etc/a", typ: tar.TypeLink, link: "home/a"}),
			[]pipeline.DiskPartition{{Mount: "/home", Size: 32 << 20}}, "hard link between two partitions"},
		{"a partition on /etc", image(), []pipeline.DiskPartition{{Mount: "/etc", Size: 32 << 20}}, "not a mount point"},
		{"partitions leaving the root no room under the cap", image(), []pipeline.DiskPartition{{Mount: "/srv", Size: 256 << 20}}, "leaves no room for the root file system"},
		{"a partition climbing out", image(), []pipeline.DiskPartition{{Mount: "/home/../etc", Size: 32 << 20}}, "not a mount point"},
		{"a relative mount point", image(), []pipeline.DiskPartition{{Mount: "home", Size: 32 << 20}}, "not a mount point"},
		{"the same mount twice", image(), []pipeline.DiskPartition{{Mount: "/srv", Size: 32 << 20}, {Mount: "/srv/", Size: 32 << 20}}, "listed twice"},
		{"files over the partition's size", image(dirEnt("srv"), ent{name: "srv/big", typ: tar.TypeReg, body: strings.Repeat("x", 40<<20)}),
			[]pipeline.DiskPartition{{Mount: "/srv", Size: 32 << 20}}, "the /srv file system (ext4): the image's files do not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			req := pipeline.DiskRequest{Image: "img", Output: filepath.Join(dir, "linux.raw"), Partitions: tc.parts}
			_, err := (&Builder{Exporter: tarExporter{entries: tc.entries}, MaxDiskBytes: 512 << 20}).Build(context.Background(), req, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "(ext4)") > 1 {
				t.Fatalf("err = %v, want %q (once, not through a writer)", err, tc.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a refused disk left %d files", len(left))
			}
		})
	}
}

func dirEnt(name string) ent { return dir(name) }
