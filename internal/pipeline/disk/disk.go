// Package disk turns a built image into a bootable UEFI disk image (raw,
// and qcow2 converted from it) without ever unpacking the image on the
// host or mounting anything. The image's export is read as a tar stream
// and rewritten by the ISO step's rewriter in its installed-system mode
// (internal/pipeline/iso: names cleaned, devices dropped, /boot captured
// with caps, fstab and the marker the step's own), then written into an
// ext4 file by a pure-Go writer (ext4.go); the EFI system partition is
// FAT32 written by mtools into a file (esp.go); the GPT is written in Go
// (gpt.go); the partitions are copied into a sparse file at their
// offsets. Every tool works on a regular file the bot made, and reads no
// path the image names.
//
// Layout: GPT; partition 1, BIOS boot (GRUB's core.img; boot.img in the
// protective MBR); partition 2, the ESP (the UEFI boot loader: the
// image's signed shim and GRUB, or its systemd-boot, or the host's GRUB;
// the grub.cfg every GRUB reads, the kernel and initramfs: esp.go); partition 3, the root file
// system (ext4, the discoverable partitions' x86-64 root type);
// partition 4, when the spec lists a swap partition, the swap (mkswap's
// header on a sparse file). fstab mounts the ESP and the root, and turns
// the swap on, by UUID.
package disk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/efi"
	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
	"github.com/linux-builder/linux-builder/internal/proc"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// Exporter streams an image's root file system as a tar.
type Exporter interface {
	Export(ctx context.Context, imageID string, w io.Writer) error
}

// Builder makes disk images.
type Builder struct {
	Exporter Exporter
	// Limits bound what an image may make the rewriter read and keep.
	Limits iso.Limits
	// MaxDiskBytes caps the disk's size (asked or computed); default 64 GiB.
	MaxDiskBytes int64
	// Timeout bounds one build; default 30 minutes.
	Timeout time.Duration
	// Tools makes the file systems the builder has no writer of its own
	// for (btrfs), in a sandbox; nil: ext4 only.
	Tools Tools
	// Installer installs the disks the builder does not lay out itself
	// (pipeline.DiskRequest.ISO) from the live ISO in a virtual machine;
	// nil: such requests fail.
	Installer Installer
}

var _ pipeline.DiskBuilder = (*Builder)(nil)

const (
	defaultMaxDisk = 64 << 30
	// espMin is the smallest ESP (FAT32 wants 65,525 clusters or more).
	espMin = 256 * mib
	// firstPart is where partitions start (1 MiB alignment).
	firstPart = mib
	// biosPart is the BIOS boot partition's size (GRUB's core.img).
	biosPart = mib
	// tailBytes is the end of the disk that the backup GPT takes, rounded
	// up to the alignment.
	tailBytes = mib
)

// layout sizes the ESP (the kernel and initramfs with room to spare), the
// root (the rest of the asked size after the ESP and the fixed-size
// partitions, or the file system with headroom) and the disk, under the
// cap.
// The boot loaders the ESP may hold (the image's, up to the /boot caps
// each) count twice too: systemd-boot is copied under two names.
func layout(asked, maxDisk, used, fixed int64, kernel, initrd string, loaders ...string) (espSize, rootSize, diskSize int64, err error) {
	var files int64
	for i, f := range append([]string{kernel, initrd}, loaders...) {
		if f == "" && i >= 2 {
			continue
		}
		info, err := os.Stat(f)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("disk: %w", err)
		}
		files += info.Size()
	}
	espSize = roundUp(max(espMin, 2*files+32*mib), mib)
	rootSize = roundUp(used+max(used/2, 1<<30), mib)
	head := int64(firstPart + biosPart) // before the ESP
	diskSize = head + espSize + rootSize + fixed + tailBytes
	if asked > 0 {
		rootSize = (asked - head - espSize - fixed - tailBytes) / mib * mib
		if rootSize < used {
			return 0, 0, 0, fmt.Errorf("disk: the asked size of %d bytes leaves %d bytes for the root file system (partition 3), which needs %d",
				asked, max(rootSize, 0), used)
		}
		return espSize, rootSize, asked / sector * sector, nil
	}
	if diskSize > maxDisk {
		if head+espSize+used+fixed+tailBytes > maxDisk {
			return 0, 0, 0, fmt.Errorf("disk: the root file system (partition 3) needs %d bytes and the other partitions and the swap %d: the disk would be over the cap of %d", used, fixed, maxDisk)
		}
		rootSize = (maxDisk - head - espSize - fixed - tailBytes) / mib * mib
		diskSize = head + espSize + rootSize + fixed + tailBytes
	}
	return espSize, rootSize, diskSize, nil
}

// failed removes what a failed build wrote and says when it ran out of
// time; err nil is returned as is.
func failed(ctx context.Context, req pipeline.DiskRequest, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	for _, p := range []string{req.Output, req.QCOW2, req.BootTestOutput} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
	if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("disk: not done within %s: %w", timeout, err)
	}
	return err
}

// limits are the disk cap and a build's time limit, defaults applied.
func (b *Builder) limits() (maxDisk int64, timeout time.Duration) {
	maxDisk, timeout = b.MaxDiskBytes, b.Timeout
	if maxDisk <= 0 {
		maxDisk = defaultMaxDisk
	}
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	return maxDisk, timeout
}

// Build writes req.Output (and req.QCOW2, req.BootTestOutput when asked).
// Its work directory sits beside the output and is removed in every case;
// a failed build leaves no output.
func (b *Builder) Build(ctx context.Context, req pipeline.DiskRequest, log func(string)) (res pipeline.DiskResult, err error) {
	maxDisk, timeout := b.limits()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if req.ISO != "" {
		res, err = b.buildByInstall(ctx, req, maxDisk, log)
		return res, failed(ctx, req, timeout, err)
	}
	plan, err := checkRequest(req, maxDisk, b.Tools)
	if err != nil {
		return res, err
	}
	swap := plan.swap
	work, err := os.MkdirTemp(filepath.Dir(req.Output), ".disk-work-")
	if err != nil {
		return res, fmt.Errorf("disk work directory: %w", err)
	}
	defer os.RemoveAll(work)
	defer func() { err = failed(ctx, req, timeout, err) }()
	captured := filepath.Join(work, "captured")
	if err := os.Mkdir(captured, 0o700); err != nil {
		return res, fmt.Errorf("disk work directory: %w", err)
	}

	rootUUID, err := newGUID()
	if err != nil {
		return res, fmt.Errorf("disk: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return res, fmt.Errorf("disk: %w", err)
	}
	volumeID := fmt.Sprintf("%02X%02X-%02X%02X", serial[0], serial[1], serial[2], serial[3])
	fsUUID := strings.ToLower(rootUUID.String())

	// 1. The file systems (the root's and the other partitions'),
	// streamed from the export.
	start := time.Now()
	root := fileSystem{kind: plan.rootFS, img: filepath.Join(work, "root."+plan.rootFS), uuid: rootUUID,
		compression: req.Compression, snapshots: req.Snapshots}
	fss, fstab, swapUUID, mountPoints, err := plan.prepare(work, req.Size, maxDisk, root, volumeID)
	if err != nil {
		return res, err
	}
	defer func() {
		// A tool still running ends before the work directory goes.
		for _, f := range fss {
			if f.job != nil {
				f.job.stop()
			}
		}
	}()
	sys, err := b.writeFileSystems(ctx, req.Image, captured, fss, iso.InstalledOptions{
		Fstab: fstab, Marker: req.Marker, MountPoints: mountPoints, Limits: b.Limits,
		MarkerReadsSMBIOS: req.Bootloader == bootSystemdBoot}, log)
	if err != nil {
		return res, err
	}
	used := fss[0].used
	if used > fss[0].max {
		return res, fmt.Errorf("disk: the root file system's files take %d bytes, over the %d the disk leaves it", used, fss[0].max)
	}
	logFileSystems(log, sys, fss, time.Since(start))

	// 2. Sizes: the ESP holds the kernel, the initramfs and the boot
	// loaders with room to spare;
	// the root gets the rest of the asked size, or the image with headroom.
	l := sys.Loaders
	espSize, rootSize, diskSize, err := layout(req.Size, maxDisk, used, plan.fixed, sys.Kernel, sys.Initrd, l.Shim, l.MokManager, l.GRUB, l.SystemdBoot)
	if err != nil {
		return res, err
	}
	head := int64(firstPart + biosPart) // before the ESP
	fss[0].size = rootSize
	for _, f := range fss {
		if f.job != nil {
			start := time.Now()
			if err := f.job.finish(f.size); err != nil {
				return res, err
			}
			log(fmt.Sprintf("disk: %s (btrfs%s) made in %s", f.what(), f.btrfsNote(), time.Since(start).Round(100*time.Millisecond)))
			continue
		}
		if err := finishExt4(ctx, f.img, f.size, f.what()); err != nil {
			return res, err
		}
	}

	// 3. The ESP.
	cfg := espConfig{volumeID: volumeID, rootUUID: fsUUID, rootflags: fss[0].rootflags(), cmdline: sys.Cmdline, name: "Linux Builder (" + sys.Hostname + ")"}
	uefi, err := chooseUEFILoader(ctx, work, req.Bootloader, sys.Loaders, cfg)
	if err != nil {
		return res, err
	}
	core, err := makeCore(ctx, work, volumeID)
	if err != nil {
		return res, err
	}
	cfgPath := filepath.Join(work, "grub.cfg")
	if err := os.WriteFile(cfgPath, []byte(grubConfig(cfg)), 0o644); err != nil {
		return res, fmt.Errorf("EFI system partition: %w", err)
	}
	espImg := filepath.Join(work, "esp.fat")
	if err := makeESP(ctx, espImg, espSize/sector, head/sector, fmt.Sprintf("%02X%02X%02X%02X", serial[0], serial[1], serial[2], serial[3]), append(uefi.files,
		efi.File{Src: cfgPath, Dst: espDir + "/grub.cfg"}, efi.File{Src: sys.Kernel, Dst: espDir + "/vmlinuz"}, efi.File{Src: sys.Initrd, Dst: espDir + "/initrd.img"},
	)); err != nil {
		return res, err
	}

	// 4. The disk: GPT, then the partitions at their offsets.
	parts, images, diskID, note, err := partitions(ctx, work, head, espSize, espImg, fss, swap, swapUUID)
	if err != nil {
		return res, err
	}
	tmp := req.Output + ".part"
	defer os.Remove(tmp)
	if err := assemble(tmp, diskSize, diskID, parts, images, core); err != nil {
		return res, err
	}
	if req.Marker != "" {
		// The boot test's copy: the same bytes (the test's machine writes
		// to it); its SMBIOS signal arms the marker, not the disk.
		testTmp := req.BootTestOutput + ".part"
		defer os.Remove(testTmp)
		if err := assemble(testTmp, diskSize, diskID, parts, images, core); err != nil {
			return res, err
		}
		if err := os.Rename(testTmp, req.BootTestOutput); err != nil {
			return res, fmt.Errorf("disk: %w", err)
		}
	}
	if err := os.Rename(tmp, req.Output); err != nil {
		return res, fmt.Errorf("disk: %w", err)
	}
	log(fmt.Sprintf("disk: %s: GPT, BIOS boot and ESP %d MiB (BIOS: GRUB; %s; kernel %s), root %s %d MiB (UUID %s)%s, %d MiB in all",
		filepath.Base(req.Output), espSize/mib, uefi.note, sys.KernelName, plan.rootFS, rootSize/mib, fsUUID, note, diskSize/mib))
	if req.QCOW2 != "" {
		start := time.Now()
		if err := ConvertQCOW2(ctx, req.Output, req.QCOW2); err != nil {
			return res, err
		}
		log(fmt.Sprintf("disk: %s in %s", filepath.Base(req.QCOW2), time.Since(start).Round(100*time.Millisecond)))
	}
	return pipeline.DiskResult{Size: diskSize, RootUUID: fsUUID}, nil
}

// writeFileSystems streams the image's export through the
// installed-system rewriter into the file systems' writers: fss[0] is the
// root's, the others get the files under their mount points (split.go).
// It sets each one's used bytes; a btrfs file system's tool (its job) is
// left waiting for its size.
func (b *Builder) writeFileSystems(ctx context.Context, image, captured string, fss []fileSystem, opt iso.InstalledOptions, log func(string)) (*iso.Installed, error) {
	jobCtx := ctx // the tools outlive the streaming
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	files := make([]*os.File, len(fss))
	for i, fs := range fss {
		if fs.kind == fsBtrfs {
			fss[i].job = startBtrfs(jobCtx, b.Tools, fs, log)
			continue
		}
		f, err := os.OpenFile(fs.img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fs.what(), err)
		}
		defer f.Close()
		files[i] = f
	}

	exportR, exportW := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := b.Exporter.Export(ctx, image, exportW)
		exportW.CloseWithError(err)
		exported <- err
	}()
	// One writer per file system, each reading its own stream.
	// The first writer to fail is the cause: the others fail because the
	// splitter then stops.
	writeErrs := make([]error, len(fss))
	outs := make([]io.Writer, len(fss))
	ins := make([]*io.PipeWriter, len(fss))
	var (
		wg        sync.WaitGroup
		firstOnce sync.Once
		first     = -1
	)
	for i, fs := range fss {
		r, w := io.Pipe()
		outs[i], ins[i] = w, w
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if j := fss[i].job; j != nil {
				fss[i].used, err = j.stream(ctx, r)
			} else {
				err = writeExt4(r, files[i], fs.max, fs.what())
				if err == nil {
					err = patchSuperblock(files[i], fs.uuid, fs.label())
				}
				if err == nil {
					var info os.FileInfo
					if info, err = files[i].Stat(); err == nil {
						fss[i].used = info.Size()
					}
				}
			}
			if err != nil {
				firstOnce.Do(func() { first = i })
			}
			writeErrs[i] = err
			r.CloseWithError(errWriterStopped)
		}()
	}
	// The splitter between the rewriter and the writers.
	mounts := make([]string, 0, len(fss)-1)
	for _, fs := range fss[1:] {
		mounts = append(mounts, fs.mount)
	}
	splitR, splitW := io.Pipe()
	split := make(chan error, 1)
	go func() {
		err := splitTar(splitR, outs, mounts)
		for _, w := range ins {
			w.CloseWithError(err) // nil: EOF for the writer
		}
		if err == nil {
			err = errWriterStopped
		}
		splitR.CloseWithError(err)
		split <- err
	}()
	buf := bufio.NewWriterSize(splitW, 1<<20)
	sys, rwErr := iso.RewriteInstalled(exportR, buf, captured, opt)
	if rwErr == nil {
		rwErr = buf.Flush()
	}
	splitW.CloseWithError(rwErr) // nil: EOF for the splitter
	exportR.CloseWithError(errors.New("the disk step stopped reading"))
	if rwErr != nil {
		cancel()
	}
	splitErr := <-split
	wg.Wait()
	var writeErr error
	if first >= 0 {
		writeErr = writeErrs[first]
	}
	exportErr := <-exported
	switch {
	case exportErr != nil && ctx.Err() == nil:
		return nil, fmt.Errorf("export image: %w", exportErr)
	case rwErr != nil && (writeErr == nil || !errors.Is(rwErr, errWriterStopped)) && !errors.Is(rwErr, errCrossLink):
		// The rewriter's refusal is the cause; the writers only saw the
		// stream end.
		return nil, fmt.Errorf("disk: %w", rwErr)
	case splitErr != nil && !errors.Is(splitErr, errWriterStopped):
		// The splitter's refusal (a hard link between partitions); the
		// writers saw their streams end with it.
		return nil, fmt.Errorf("disk: %w", splitErr)
	case writeErr != nil:
		return nil, writeErr
	case rwErr != nil:
		return nil, fmt.Errorf("disk: %w", rwErr)
	}
	return sys, nil
}

// errWriterStopped is what the rewriter's writes get once a file
// system's writer has returned.
var errWriterStopped = errors.New("the file system writer stopped reading")

// assemble writes the disk to path: a sparse file of size bytes, the GPT,
// each partition's image at its offset ("": none), and GRUB's BIOS boot
// code (core.img into the first partition).
func assemble(path string, size int64, diskID GUID, parts []part, images []string, core string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if err := writeGPT(f, size/sector, diskID, parts); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	for i, p := range parts {
		if images[i] == "" {
			continue
		}
		if err := copyInto(f, p.first*sector, images[i], p.size*sector); err != nil {
			return fmt.Errorf("disk: partition %d (%s): %w", i+1, p.name, err)
		}
	}
	if err := installBIOS(f, core, parts[0].first, parts[0].size); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return nil
}

// diskPlan is a checked request's partitions besides the root, sized in
// whole MiB.
type diskPlan struct {
	rootFS string // fsExt4 or fsBtrfs
	swap   int64
	parts  []pipeline.DiskPartition // mount points cleaned: "home"
	fixed  int64                    // the swap and parts: what the root does not get
}

// minPartition is the smallest file system partition.
const minPartition = 16 * mib

// prepare sizes the root's writer (root.max), makes the other file
// systems of the plan, the fstab, the swap's UUID and the mount points the
// installed system must have.
func (plan diskPlan) prepare(work string, asked, maxDisk int64, root fileSystem, volumeID string) (
	fss []fileSystem, fstab, swapUUID string, mountPoints []string, err error) {
	if root.max, err = rootCap(asked, maxDisk, plan.fixed); err != nil {
		return nil, "", "", nil, err
	}
	if fss, err = plan.fileSystems(work, root); err != nil {
		return nil, "", "", nil, err
	}
	if fstab, swapUUID, err = makeFstab(fss, volumeID, plan.swap); err != nil {
		return nil, "", "", nil, err
	}
	mountPoints = []string{"boot/efi"}
	for _, f := range fss[1:] {
		mountPoints = append(mountPoints, f.mount)
	}
	return fss, fstab, swapUUID, mountPoints, nil
}

// logFileSystems says what the file systems hold and what the rewriter
// dropped.
func logFileSystems(log func(string), sys *iso.Installed, fss []fileSystem, took time.Duration) {
	how := "the image streamed, never unpacked"
	if fss[0].kind == fsBtrfs {
		how = "the image streamed to the sandboxed file system tools, never unpacked on the host"
	}
	log(fmt.Sprintf("disk: root file system (%s) of %d entries, %d MB, in %s (%s)",
		fss[0].kind, sys.Entries, fss[0].used/1e6, took.Round(100*time.Millisecond), how))
	for _, f := range fss[1:] {
		log(fmt.Sprintf("disk: %s (%s): %d MB of the image's files, in a %d MiB partition", f.what(), f.kind, f.used/1e6, f.size/mib))
	}
	for _, reason := range sortedKeys(sys.Dropped) {
		log(fmt.Sprintf("disk: dropped %d entries of the image: %s", sys.Dropped[reason], reason))
	}
}

// partitions are the disk's partitions in order (BIOS boot, the ESP, the
// root, the other file systems, the swap, made here) and the images
// that fill them ("" for none), a new disk GUID, and a note for the log on
// those after the root.
func partitions(ctx context.Context, work string, head, espSize int64, espImg string, fss []fileSystem, swap int64, swapUUID string) (
	parts []part, images []string, diskID GUID, note string, err error) {
	ids, err := newGUIDs(5 + len(fss))
	if err != nil {
		return nil, nil, diskID, "", fmt.Errorf("disk: %w", err)
	}
	diskID, espID, rootID, biosID, swapID := ids[0], ids[1], ids[2], ids[3], ids[4]
	parts = []part{
		{typ: typeBIOSBoot, id: biosID, name: "BIOS boot", first: firstPart / sector, size: biosPart / sector},
		{typ: typeESP, id: espID, name: "ESP", first: head / sector, size: espSize / sector},
		{typ: typeLinuxX64, id: rootID, name: "root", first: (head + espSize) / sector, size: fss[0].size / sector},
	}
	images = []string{"", espImg, fss[0].img}
	next := head + espSize + fss[0].size
	for i, f := range fss[1:] {
		parts = append(parts, part{typ: typeLinuxData, id: ids[5+i], name: f.label(), first: next / sector, size: f.size / sector})
		images = append(images, f.img)
		note += fmt.Sprintf(", /%s %s %d MiB (UUID %s)", f.mount, f.kind, f.size/mib, strings.ToLower(f.uuid.String()))
		next += f.size
	}
	if swap > 0 {
		// The swap: mkswap's header on a file of its size (sparse).
		swapImg := filepath.Join(work, "swap")
		if err := makeSwap(ctx, swapImg, swap, swapUUID); err != nil {
			return nil, nil, diskID, "", err
		}
		parts = append(parts, part{typ: typeSwap, id: swapID, name: "swap", first: next / sector, size: swap / sector})
		images = append(images, swapImg)
		note += fmt.Sprintf(", swap %d MiB (UUID %s)", swap/mib, swapUUID)
	}
	return parts, images, diskID, note, nil
}

// checkRequest refuses a request the builder cannot honour.
func checkRequest(req pipeline.DiskRequest, maxDisk int64, tools Tools) (plan diskPlan, err error) {
	if req.Size < 0 || req.Size > maxDisk {
		return plan, fmt.Errorf("disk: size %d bytes is outside 0-%d (the cap)", req.Size, maxDisk)
	}
	if req.Swap < 0 || req.Swap > maxDisk-espMin {
		return plan, fmt.Errorf("disk: swap of %d bytes is outside 0-%d (the cap less the smallest ESP)", req.Swap, maxDisk-espMin)
	}
	if req.Marker != "" && req.BootTestOutput == "" {
		return plan, errors.New("disk: a boot-test marker without a boot-test output")
	}
	if plan.rootFS, err = checkRootFS(req, tools); err != nil {
		return plan, err
	}
	if len(req.Partitions) > maxPartitions {
		return plan, fmt.Errorf("disk: %d partitions besides the root; at most %d", len(req.Partitions), maxPartitions)
	}
	plan.swap = roundUp(req.Swap, mib)
	plan.fixed = plan.swap
	seen := map[string]bool{}
	for _, p := range req.Partitions {
		m := cleanMount(p.Mount)
		switch {
		case !strings.HasPrefix(p.Mount, "/") || m == "" || spec.ReservedMount("/"+m):
			return plan, fmt.Errorf("disk: partition %q: not a mount point a disk image can have (the root's, the ESP's and the system's own directories are not)", clip(p.Mount, 100))
		case seen[m]:
			return plan, fmt.Errorf("disk: partition /%s is listed twice", m)
		case p.Size < minPartition || p.Size > maxDisk:
			return plan, fmt.Errorf("disk: partition /%s of %d bytes is outside %d-%d", m, p.Size, minPartition, maxDisk)
		}
		seen[m] = true
		switch p.FS {
		case "", fsExt4:
			p.FS = fsExt4
		case fsBtrfs:
			if tools == nil {
				return plan, fmt.Errorf("disk: partition /%s: btrfs needs the file system tools (a Docker engine), which this builder was not given", m)
			}
		default:
			return plan, fmt.Errorf("disk: partition /%s: file system %q is not made in disk images (ext4 and btrfs are)", m, clip(p.FS, 20))
		}
		size := roundUp(p.Size, mib)
		plan.parts = append(plan.parts, pipeline.DiskPartition{Mount: m, Size: size, FS: p.FS})
		plan.fixed += size
	}
	if plan.fixed > maxDisk-espMin {
		return plan, fmt.Errorf("disk: the partitions besides the root take %d bytes, over the cap less the smallest ESP (%d)", plan.fixed, maxDisk-espMin)
	}
	return plan, nil
}

// maxPartitions bounds the file systems besides the root (a GPT has 128
// entries; the spec allows 32 partitions).
const maxPartitions = 32

// fileSystem is one file system of the disk: the root's or another
// partition's.
type fileSystem struct {
	kind  string // fsExt4 or fsBtrfs
	mount string // "" for the root, else cleaned ("home", "var/log")
	img   string // its image, in the work directory
	uuid  GUID
	size  int64 // its partition's size (the root's once laid out)
	max   int64 // the writer's cap
	used  int64 // what the image's files take in it (the compact ext4's size, or btrfs's unpacked files)
	// btrfs: compress= (zstd, lzo, zlib or ""), the @snapshots
	// subvolume, and the tool making it.
	compression string
	snapshots   bool
	job         *btrfsJob
}

// The file systems a disk image can have.
const (
	fsExt4  = "ext4"
	fsBtrfs = "btrfs"
)

// btrfsCompression are the compress= algorithms of a btrfs disk image.
var btrfsCompression = []string{"zstd", "lzo", "zlib"}

// checkRootFS is the request's root file system, refused when the
// builder cannot make it.
func checkRootFS(req pipeline.DiskRequest, tools Tools) (string, error) {
	switch req.RootFS {
	case "", fsExt4:
		if req.Compression != "" || req.Snapshots {
			return "", errors.New("disk: compression and snapshots are btrfs's: the root file system is ext4")
		}
		return fsExt4, nil
	case fsBtrfs:
		if tools == nil {
			return "", errors.New("disk: a btrfs root needs the file system tools (a Docker engine), which this builder was not given")
		}
		if req.Compression != "" && !slices.Contains(btrfsCompression, req.Compression) {
			return "", fmt.Errorf("disk: btrfs compression %q is none of %s", clip(req.Compression, 20), strings.Join(btrfsCompression, ", "))
		}
		return fsBtrfs, nil
	}
	return "", fmt.Errorf("disk: root file system %q is not made in disk images (ext4 and btrfs are)", clip(req.RootFS, 20))
}

// rootflags are the root's mount options on the kernel command line: a
// btrfs root is its @ subvolume.
func (f fileSystem) rootflags() string {
	if f.kind == fsBtrfs && f.mount == "" {
		return "subvol=@"
	}
	return ""
}

// btrfsNote says how a btrfs file system is laid out, for the log.
func (f fileSystem) btrfsNote() string {
	var n string
	if f.mount == "" {
		n = ", subvolumes @ and @home"
		if f.snapshots {
			n = ", subvolumes @, @home and @snapshots"
		}
	}
	if f.compression != "" {
		n += ", compress=" + f.compression
	}
	return n
}

func (f fileSystem) what() string {
	if f.mount == "" {
		return "root file system"
	}
	return "the /" + f.mount + " file system"
}

// label is the file system's and its partition's name: root, or the
// mount point's last element, at most 16 bytes.
func (f fileSystem) label() string {
	if f.mount == "" {
		return "root"
	}
	l := path.Base(f.mount)
	if len(l) > 16 {
		l = l[:16]
	}
	return l
}

// fileSystems are the root's file system and one for each partition of
// the plan, with new UUIDs.
func (plan diskPlan) fileSystems(work string, root fileSystem) ([]fileSystem, error) {
	fss := []fileSystem{root}
	for i, p := range plan.parts {
		g, err := newGUID()
		if err != nil {
			return nil, fmt.Errorf("disk: %w", err)
		}
		fss = append(fss, fileSystem{kind: p.FS, mount: p.Mount, img: filepath.Join(work, fmt.Sprintf("part-%d.%s", i+1, p.FS)), uuid: g, size: p.Size, max: p.Size})
	}
	return fss, nil
}

// makeFstab is the disk's fstab: the root, the ESP, the other file
// systems and, when swap is not 0, the swap (whose new UUID it returns),
// by UUID. The ESP is nofail: a system whose ESP is slow to appear (a
// loaded machine's udev) or gone still boots; only boot loader updates
// need it. So is the swap.
func makeFstab(fss []fileSystem, volumeID string, swap int64) (fstab, swapUUID string, err error) {
	root := strings.ToLower(fss[0].uuid.String())
	fstab = "# Generated by Linux Builder: the disk image's file systems, by UUID.\n"
	if fss[0].kind == fsBtrfs {
		// As linux-builder-install lays a btrfs root out: the system in
		// @, /home in @home, /.snapshots in @snapshots.
		compress := ""
		if c := fss[0].compression; c != "" {
			compress = ",compress=" + c
		}
		fstab += "UUID=" + root + "\t/\tbtrfs\tsubvol=@" + compress + "\t0\t0\n" +
			"UUID=" + root + "\t/home\tbtrfs\tsubvol=@home" + compress + "\t0\t0\n"
		if fss[0].snapshots {
			fstab += "UUID=" + root + "\t/.snapshots\tbtrfs\tsubvol=@snapshots\t0\t0\n"
		}
	} else {
		fstab += "UUID=" + root + "\t/\text4\terrors=remount-ro\t0\t1\n"
	}
	fstab += "UUID=" + volumeID + "\t/boot/efi\tvfat\tumask=0077,nofail\t0\t2\n"
	for _, f := range fss[1:] {
		pass := "2"
		if f.kind == fsBtrfs {
			pass = "0" // btrfs checks itself at mount; fsck.btrfs does nothing
		}
		fstab += "UUID=" + strings.ToLower(f.uuid.String()) + "\t/" + f.mount + "\t" + f.kind + "\tdefaults\t0\t" + pass + "\n"
	}
	if swap == 0 {
		return fstab, "", nil
	}
	g, err := newGUID()
	if err != nil {
		return "", "", fmt.Errorf("disk: %w", err)
	}
	swapUUID = strings.ToLower(g.String())
	return fstab + "UUID=" + swapUUID + "\tnone\tswap\tsw,nofail\t0\t0\n", swapUUID, nil
}

// rootCap bounds the root file system's writer: what the asked size (or
// the cap) leaves after the smallest ESP, the other partitions and the
// swap (fixed), and the GPT.
func rootCap(asked, maxDisk, fixed int64) (int64, error) {
	room := maxDisk
	if asked > 0 {
		room = asked
	}
	c := room - espMin - fixed - firstPart - biosPart - tailBytes
	if c <= 0 {
		return 0, fmt.Errorf("disk: a disk of %d bytes leaves no room for the root file system after the %d MiB ESP and the %d MiB of the swap and the other partitions", room, espMin/mib, fixed/mib)
	}
	return c, nil
}

// makeSwap writes a swap area of size bytes into a new file at path
// (mkswap, util-linux, on the file the bot made: sparse but for the
// header).
func makeSwap(ctx context.Context, path string, size int64, uuid string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	if out, err := proc.Command(ctx, "mkswap", "-U", uuid, "-L", "swap", path).CombinedOutput(); err != nil {
		return fmt.Errorf("swap: mkswap (package util-linux): %w: %s", err, lastLines(out, 5))
	}
	return nil
}

// ConvertQCOW2 converts the raw disk image at raw into a qcow2 at out
// (qemu-img, package qemu-utils), through a temporary file.
func ConvertQCOW2(ctx context.Context, raw, out string) error {
	tmp := out + ".part"
	defer os.Remove(tmp)
	if b, err := proc.Command(ctx, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("qcow2: qemu-img convert (package qemu-utils): %w: %s", err, lastLines(b, 5))
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	return nil
}

func randomSerial() ([4]byte, error) {
	var s [4]byte
	g, err := newGUID()
	if err != nil {
		return s, err
	}
	copy(s[:], g[:4])
	return s, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
