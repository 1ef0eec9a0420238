package efi

// The removable-media boot path: UEFI firmware with no boot entries of
// its own (a new disk, a CD, a USB stick) runs \EFI\BOOT\BOOTX64.EFI.
// With Secure Boot that is shim (signed by Microsoft's UEFI CA, which the
// firmware trusts), which runs grubx64.efi beside it after checking it
// against the distribution's key built into shim, and offers mmx64.efi
// (MokManager) when it refuses one. fbx64.efi, shim's fallback, is left
// out on purpose: beside BOOTX64.EFI it would write boot entries and
// reset the machine.
const (
	RemovablePath = "EFI/BOOT/BOOTX64.EFI"
	ShimNextPath  = "EFI/BOOT/grubx64.efi"
	MokPath       = "EFI/BOOT/mmx64.efi"
	// DebianGRUBConfig is where Debian's signed GRUB for disks
	// (grubx64.efi.signed, its prefix /EFI/debian) reads its
	// configuration, on the partition it was loaded from.
	DebianGRUBConfig = "EFI/debian/grub.cfg"
)

// SignedChain is the signed boot chain's files on an EFI file system:
// shim as the removable-media loader, the signed GRUB beside it, and
// MokManager when the image has it ("": left out).
func SignedChain(shim, grub, mok string) []File {
	fs := []File{{shim, RemovablePath}, {grub, ShimNextPath}}
	if mok != "" {
		fs = append(fs, File{mok, MokPath})
	}
	return fs
}
