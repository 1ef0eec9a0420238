package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/sparse"
)

// Installer installs the system of a live ISO on a blank disk in a
// virtual machine: the ISO's own linux-builder-install, unattended
// (internal/pipeline/boot's Tester.InstallDisk). It is how the builder
// makes the disk images it does not lay out itself (pipeline.DiskRequest.ISO:
// xfs and f2fs roots, for which no host tool writes a file system from a
// tree without losing extended attributes, hard links or owners, and LVM,
// which needs device-mapper). The machine is the built system, a
// stranger's code: it runs as the boot test's machines do, and what it
// leaves on the disk is read back as data only (copied, converted,
// compressed, booted by the boot test).
type Installer interface {
	// InstallDisk writes disk (a new file of size bytes) with the system
	// iso's installer puts on a blank disk of that size; on failure disk
	// is not left behind.
	InstallDisk(ctx context.Context, iso, disk string, size int64, log func(string)) error
}

// minInstallDisk is the smallest disk an install is tried on: the
// installer's own partitions (BIOS boot, the ESP of 512M, /boot of 1G)
// and a root. The installer checks the system's size itself, before
// writing anything.
const minInstallDisk = 2 << 30

// buildByInstall makes req.Output (and req.QCOW2, req.BootTestOutput) by
// installing req.ISO's system on a blank disk of req.Size bytes.
func (b *Builder) buildByInstall(ctx context.Context, req pipeline.DiskRequest, maxDisk int64, log func(string)) (pipeline.DiskResult, error) {
	var res pipeline.DiskResult
	if b.Installer == nil {
		return res, errors.New("disk: this disk image is installed from the live ISO in a virtual machine, and the disk step has no installer (QEMU) configured")
	}
	size := req.Size / mib * mib
	switch {
	case req.Marker != "" && req.BootTestOutput == "":
		return res, errors.New("disk: a boot-test marker without a boot-test output")
	case req.Size <= 0:
		return res, errors.New("disk: a disk image installed from the live ISO needs its size")
	case size < minInstallDisk:
		return res, fmt.Errorf("disk: %d bytes is too small a disk to install on: linux-builder-install needs %d MiB or more (ESP, /boot and the root)", req.Size, minInstallDisk/mib)
	case size > maxDisk:
		return res, fmt.Errorf("disk: %d bytes is over the cap of %d", size, maxDisk)
	}
	if info, err := os.Stat(req.ISO); err != nil || !info.Mode().IsRegular() {
		return res, fmt.Errorf("disk: the live ISO to install from: %v", errOr(err, "not a regular file"))
	}
	tmp := req.Output + ".part"
	defer os.Remove(tmp)
	start := time.Now()
	if err := b.Installer.InstallDisk(ctx, req.ISO, tmp, size, log); err != nil {
		return res, fmt.Errorf("disk: installing the system from the live ISO: %w", err)
	}
	info, err := os.Stat(tmp)
	switch {
	case err != nil:
		return res, fmt.Errorf("disk: the installed disk: %w", err)
	case info.Size() != size:
		// The machine's disk is a fixed-size raw file: anything else is
		// not the disk it was given.
		return res, fmt.Errorf("disk: the installed disk is %d bytes, not the %d it was made with", info.Size(), size)
	}
	log(fmt.Sprintf("disk: installed by linux-builder-install in %s: a %d MiB disk, %d MiB of it written",
		time.Since(start).Round(100*time.Millisecond), size/mib, allocated(info)/mib))
	if req.BootTestOutput != "" {
		// The boot test's copy: the same bytes (its machine writes to it).
		testTmp := req.BootTestOutput + ".part"
		defer os.Remove(testTmp)
		if err := sparse.Copy(tmp, testTmp); err != nil {
			return res, fmt.Errorf("disk: the boot test's copy: %w", err)
		}
		if err := os.Rename(testTmp, req.BootTestOutput); err != nil {
			return res, fmt.Errorf("disk: %w", err)
		}
	}
	if err := os.Rename(tmp, req.Output); err != nil {
		return res, fmt.Errorf("disk: %w", err)
	}
	if req.QCOW2 != "" {
		start := time.Now()
		if err := ConvertQCOW2(ctx, req.Output, req.QCOW2); err != nil {
			return res, err
		}
		log(fmt.Sprintf("disk: %s in %s", filepath.Base(req.QCOW2), time.Since(start).Round(100*time.Millisecond)))
	}
	return pipeline.DiskResult{Size: size}, nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// allocated is what a sparse file's data takes on its file system.
func allocated(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
