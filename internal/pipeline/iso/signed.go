package iso

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/linux-builder/linux-builder/internal/pipeline/efi"
	"github.com/linux-builder/linux-builder/internal/proc"
)

// An ISO that boots with Secure Boot, laid out as Debian's live-build and
// debian-cd lay theirs: the El Torito EFI boot image is a small FAT file
// system (efi.Make) holding the image's shim as \EFI\BOOT\BOOTX64.EFI and
// its signed CD GRUB (gcdx64.efi.signed, monolithic: every module
// grub.cfg uses is built in, and no other can be loaded under Secure Boot)
// as grubx64.efi beside it. That GRUB finds /boot/grub/grub.cfg on the CD
// (its prefix), or the CD by /.disk/info when it was started from the
// EFI partition of a USB stick. BIOS boots GRUB's El Torito image
// (grub-mkimage -O i386-pc-eltorito from the host's grub-pc-bin, the same
// modules built in), and a USB stick through GRUB's hybrid MBR. xorriso
// assembles the ISO as grub-mkrescue would, from the tree the step wrote.

// biosModules are the GRUB modules of the BIOS El Torito image: all that
// grub.cfg needs, so the CD has no module directory.
var biosModules = []string{"biosdisk", "iso9660", "part_msdos", "part_gpt", "search", "search_label", "search_fs_file", "normal", "linux",
	"configfile", "echo", "serial", "terminal", "test", "smbios"}

// grubPCDir is where grub-pc-bin keeps its images.
var grubPCDir = "/usr/lib/grub/i386-pc"

// Where the boot images go in the ISO's tree.
const (
	eltoritoName = "boot/grub/i386-pc/eltorito.img"
	efiImageName = "boot/grub/efi.img"
)

// makeSignedISO writes the ISO of tree to out, booting the image's
// signed chain l under UEFI.
func makeSignedISO(ctx context.Context, tree, out, volid string, l Loaders) error {
	eltorito := filepath.Join(tree, eltoritoName)
	if err := os.MkdirAll(filepath.Dir(eltorito), 0o755); err != nil {
		return fmt.Errorf("iso tree: %w", err)
	}
	args := append([]string{"-O", "i386-pc-eltorito", "-d", grubPCDir, "-p", "/boot/grub", "-o", eltorito}, biosModules...)
	if b, err := proc.Command(ctx, "grub-mkimage", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("grub-mkimage (package grub-pc-bin): %w: %s", err, lastLines(b, 5))
	}
	files := efi.SignedChain(l.Shim, l.GRUBCD, l.MokManager)
	var size int64
	for _, f := range files {
		info, err := os.Stat(f.Src)
		if err != nil {
			return fmt.Errorf("EFI boot image: %w", err)
		}
		size += info.Size()
	}
	// The files, and a MiB for the FAT's own structures.
	size = (size + 2<<20 - 1) / (1 << 20) * (1 << 20)
	if err := efi.Make(ctx, filepath.Join(tree, efiImageName), efi.FAT{Sectors: size / 512, Label: "EFIBOOT"}, files); err != nil {
		return fmt.Errorf("EFI boot image: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tree, ".disk"), 0o755); err != nil {
		return fmt.Errorf("iso tree: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tree, ".disk", "info"), []byte("Linux Builder live "+volid+"\n"), 0o644); err != nil {
		return fmt.Errorf("iso tree: %w", err)
	}
	x := []string{"-as", "mkisofs", "-graft-points", "-V", volid,
		"-b", eltoritoName, "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "--grub2-boot-info",
		"--grub2-mbr", filepath.Join(grubPCDir, "boot_hybrid.img"),
		"--efi-boot", efiImageName, "-efi-boot-part", "--efi-boot-image", "--protective-msdos-label",
		"-o", out, "-r", tree, "--sort-weight", "0", "/", "--sort-weight", "1", "/boot"}
	if b, err := proc.Command(ctx, "xorriso", x...).CombinedOutput(); err != nil {
		return fmt.Errorf("xorriso: %w: %s", err, lastLines(b, 5))
	}
	return nil
}
