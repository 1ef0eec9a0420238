package disk

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/linux-builder/linux-builder/internal/proc"
)

// BIOS boot: GRUB's i386-pc boot.img in the protective MBR's boot code,
// and its core.img (grub-mkimage from the host's grub-pc-bin, with the same
// embedded configuration as BOOTX64.EFI: find the ESP, read its
// grub.cfg) in a BIOS boot partition. This is what grub-bios-setup does
// to a device, done on the disk image's file: boot.img gets core.img's
// first sector, and core.img's first sector (diskboot) the sectors of
// the rest.

// The offsets GRUB's boot.img and diskboot.img keep their fields at
// (grub/i386/pc/boot.h).
const (
	bootKernelSector = 0x5c  // GRUB_BOOT_MACHINE_KERNEL_SECTOR: u64, core.img's first sector
	bootDriveCheck   = 0x66  // GRUB_BOOT_MACHINE_DRIVE_CHECK: a jmp, nop'ed for hard disks
	bootCodeEnd      = 0x1b8 // GRUB_BOOT_MACHINE_WINDOWS_NT_MAGIC: the MBR's own bytes from here
	blocklistStart   = 0x200 - 12
)

// biosModules are the GRUB modules core.img holds.
var biosModules = []string{"biosdisk", "part_gpt", "fat", "search", "search_fs_uuid", "normal", "linux", "configfile",
	"echo", "serial", "terminal", "test", "smbios"}

// grubPCDir is where grub-pc-bin keeps boot.img.
var grubPCDir = "/usr/lib/grub/i386-pc"

// makeCore writes core.img into work.
func makeCore(ctx context.Context, work, volumeID string) (string, error) {
	cfg := filepath.Join(work, "grub-embedded-bios.cfg")
	if err := os.WriteFile(cfg, []byte(grubEmbedded(volumeID)), 0o644); err != nil {
		return "", fmt.Errorf("BIOS boot: %w", err)
	}
	out := filepath.Join(work, "core.img")
	args := append([]string{"-O", "i386-pc", "-o", out, "-c", cfg, "-p", "/" + espDir}, biosModules...)
	if b, err := proc.Command(ctx, "grub-mkimage", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("BIOS boot: grub-mkimage (package grub-pc-bin): %w: %s", err, lastLines(b, 5))
	}
	return out, nil
}

// installBIOS writes boot.img into the MBR of the disk in f (keeping the
// partition table) and core.img at sector first of a partition of size
// sectors.
func installBIOS(f *os.File, core string, first, size int64) error {
	boot, err := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	if err != nil {
		return fmt.Errorf("BIOS boot: boot.img (package grub-pc-bin): %w", err)
	}
	if len(boot) != sector {
		return fmt.Errorf("BIOS boot: boot.img is %d bytes, want %d", len(boot), sector)
	}
	img, err := os.ReadFile(core)
	if err != nil {
		return fmt.Errorf("BIOS boot: %w", err)
	}
	n := (int64(len(img)) + sector - 1) / sector
	if n < 2 || n > size || n-1 > 0xffff {
		return fmt.Errorf("BIOS boot: core.img of %d sectors does not fit the BIOS boot partition's %d", n, size)
	}
	img = append(img, make([]byte, n*sector-int64(len(img)))...)
	// diskboot's block list: the rest of core.img, right after it.
	binary.LittleEndian.PutUint64(img[blocklistStart:], uint64(first+1))
	binary.LittleEndian.PutUint16(img[blocklistStart+8:], uint16(n-1))
	if seg := binary.LittleEndian.Uint16(img[blocklistStart+10:]); seg != 0x820 {
		return fmt.Errorf("BIOS boot: core.img's block list is not where GRUB keeps it (segment %#x)", seg)
	}
	if _, err := f.WriteAt(img, first*sector); err != nil {
		return fmt.Errorf("BIOS boot: %w", err)
	}
	mbr := make([]byte, sector)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("BIOS boot: %w", err)
	}
	copy(mbr[:bootCodeEnd], boot[:bootCodeEnd])
	binary.LittleEndian.PutUint64(mbr[bootKernelSector:], uint64(first))
	mbr[bootDriveCheck], mbr[bootDriveCheck+1] = 0x90, 0x90
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("BIOS boot: %w", err)
	}
	return nil
}
