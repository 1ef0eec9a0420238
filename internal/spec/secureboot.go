package spec

// SignedBootChain reports whether the spec's system boots with Secure
// Boot: Linux Builder installs the distribution's signed shim and GRUB
// (Debian's shim-signed and grub-efi-amd64-signed; Debian's kernel is
// signed) and boots ISOs and disk images with them. Only Debian on
// x86_64 so far; the ISOs and disk images of the others boot UEFI
// machines with Secure Boot off, which the run says.
func (s *Spec) SignedBootChain() bool {
	return s.Base == BaseDebian && s.Architecture == ArchX8664
}

// SecureBootDisk reports whether the spec's disk images boot with Secure
// Boot: the signed chain, GRUB for UEFI (systemd-boot is not signed),
// and a UEFI firmware.
func (s *Spec) SecureBootDisk() bool {
	return s.SignedBootChain() && s.Customization.Bootloader != BootSystemdBoot && s.Customization.Firmware.HasUEFI()
}
