package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// The disk step (DISK_GENERATING) makes the disk images a spec's outputs
// ask for (qcow2, raw) with the DiskBuilder, after the ISO step. Its
// artifacts are linux.qcow2 and linux.raw.zst (the raw image compressed
// as it is read: the raw file itself is scratch, never an artifact). The
// boot test's copy of the disk, with the marker armed, stays in the run's
// work directory until BOOT_TESTING has booted it under each firmware of
// customization.firmware.

// Disk artifact names.
const (
	qcow2Name  = "linux.qcow2"
	rawZstName = "linux.raw.zst"
)

// wantsISO reports whether the run makes the ISO: its spec asks for it
// (runs whose spec is not known yet do), or its disk image is installed
// from it (spec.DiskByInstall).
func (r *execution) wantsISO() bool {
	// spec nil: publishesISO. Without a disk builder there is no disk to
	// install (makeDisk makes the run partial).
	return r.publishesISO() || (r.p.cfg.Disk != nil && r.spec.DiskByInstall())
}

// publishesISO reports whether the run's spec asks for the ISO: an ISO
// made only to install the disk image from is scratch, neither an
// artifact nor boot-tested (the installed disk is).
func (r *execution) publishesISO() bool {
	return r.spec == nil || slices.Contains(r.spec.Outputs, spec.OutputISO)
}

// wantsDisk reports whether the run's spec asks for a disk image.
func (r *execution) wantsDisk() bool { return r.spec != nil && r.spec.HasDiskImage() }

// skipUnwanted moves past the output steps the spec does not ask for: a
// skipped step is never entered, so the run's report shows it skipped.
func (r *execution) skipUnwanted(ctx context.Context, next run.State) (run.State, error) {
	for {
		switch {
		case next == run.ISOGenerating && !r.wantsISO():
			r.logs.Add(ctx, run.LogInfo, "the spec's outputs do not include iso: no ISO is made")
		case next == run.DiskGenerating && !r.wantsDisk():
			// The ISO alone, as most specs ask: nothing to say.
		default:
			return next, nil
		}
		n, err := Transition(next, Next)
		if err != nil {
			return "", err
		}
		next = n
	}
}

// diskBoot is the boot-test copy of the run's disk, and the firmwares
// that boot it (none, without a boot tester or a boot test).
type diskBoot struct {
	path      string
	firmwares []Firmware
}

// makeDisk builds the disk images. A disk step that fails (or has no
// builder) makes the run partial and the run goes on: the boot test still
// boots the ISO.
func (r *execution) makeDisk(ctx context.Context) (*diskBoot, error) {
	if r.p.cfg.Disk == nil {
		return nil, r.partial(ctx, Partial{Reason: "disk images are not configured; the run publishes no " + strings.Join(r.diskOutputs(), " or ")})
	}
	work := filepath.Join(r.dir, "work")
	if err := os.MkdirAll(work, 0o750); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	raw := filepath.Join(work, "linux.raw")
	defer os.Remove(raw)
	req := DiskRequest{Image: r.image, Output: raw, Size: r.spec.DiskImageBytes(), Swap: r.spec.SwapBytes(), Bootloader: string(r.spec.Customization.Bootloader)}
	if r.spec.DiskByInstall() {
		if r.installISO == "" {
			return nil, r.partial(ctx, Partial{Reason: "the disk image is installed from the live ISO, which was not made; the run publishes no " + strings.Join(r.diskOutputs(), " or "), Failed: true})
		}
		req.ISO = r.installISO
		if !r.publishesISO() {
			defer os.Remove(r.installISO) // scratch: the disk is what was asked for
		}
		fs := r.spec.Filesystem
		size := string(fs.DiskSize)
		if size == "" {
			size = fmt.Sprintf("%dG (filesystem.diskSize's default here)", req.Size>>30)
		}
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("disk: %s %s root%s: the disk image is installed from the live ISO by linux-builder-install in a virtual machine, on a disk of %s",
			map[bool]string{true: "an", false: "a"}[fs.Root == spec.FSExt4 || fs.Root == spec.FSXFS || fs.Root == spec.FSF2FS], fs.Root, map[bool]string{true: " on LVM"}[fs.LVM], size))
	}
	if fs := r.spec.Filesystem; fs.Root == spec.FSBtrfs {
		req.RootFS, req.Snapshots = string(fs.Root), fs.Snapshots
		if fs.Compression != "" && fs.Compression != "none" {
			req.Compression = string(fs.Compression)
		}
	}
	for _, dp := range r.spec.DiskPartitions() {
		req.Partitions = append(req.Partitions, DiskPartition{Mount: dp.Mount, Size: dp.Bytes, FS: dp.FS})
	}
	if slices.Contains(r.spec.Outputs, spec.OutputQCOW2) {
		req.QCOW2 = filepath.Join(r.dir, qcow2Name)
	}
	if r.bootTested() {
		req.Marker = r.marker()
		req.BootTestOutput = filepath.Join(work, "boot-test.raw")
	}
	res, err := r.p.cfg.Disk.Build(ctx, req, func(line string) { r.logs.Add(ctx, run.LogInfo, line) })
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, ErrEngineLost) {
		return nil, err // the attempt is retried, not the run made partial
	}
	if err != nil {
		return nil, r.partial(ctx, Partial{Reason: "disk image generation failed: " + err.Error(), Failed: true})
	}
	if req.QCOW2 != "" {
		if err := r.addFileArtifact(ctx, qcow2Name, run.ArtifactDisk); err != nil {
			return nil, err
		}
	}
	if slices.Contains(r.spec.Outputs, spec.OutputRaw) {
		path := filepath.Join(r.dir, rawZstName)
		// The raw file is sparse: zstd reads its holes as zeros, which
		// cost next to nothing compressed. Its size is the disk's, under
		// the spec's cap.
		size, sum, err := r.writeCompressed(ctx, path, spec.MaxDiskImageBytes, func(w io.Writer) error {
			f, err := os.Open(raw)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, r.partial(ctx, Partial{Reason: "compressing the raw disk image failed: " + err.Error(), Failed: true})
		}
		r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("%s: %s (a %s disk)", rawZstName, megabytes(size), megabytes(res.Size)))
		if err := r.addArtifact(ctx, Artifact{Name: rawZstName, Type: run.ArtifactDisk, Path: path, Size: size, SHA256: sum}); err != nil {
			return nil, err
		}
	}
	r.warnSecureBoot(ctx)
	if req.BootTestOutput == "" {
		return &diskBoot{}, nil // made, not to be booted
	}
	fws, skipped := diskFirmwares(r.spec, r.p.cfg.Firmwares)
	for _, why := range skipped {
		r.warnOnce(ctx, why)
	}
	return &diskBoot{path: req.BootTestOutput, firmwares: fws}, nil
}

// diskOutputs are the disk outputs the spec asks for.
func (r *execution) diskOutputs() []string {
	var out []string
	for _, o := range r.spec.Outputs {
		if o != spec.OutputISO {
			out = append(out, string(o))
		}
	}
	return out
}
