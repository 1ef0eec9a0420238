package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// Which firmwares boot the run's outputs. The ISO boots with the
// configured firmwares (Config.Firmwares: BIOS, UEFI and UEFI with Secure
// Boot by default), the disk image with those of its spec's
// customization.firmware, and with Secure Boot too when it is configured.
// Secure Boot boots only what boots with the distribution's signed chain
// (spec.Spec.SignedBootChain: Debian on x86_64): other distributions'
// media are not claimed to, and the run warns; a disk whose UEFI boot
// loader is systemd-boot (unsigned) is not booted with Secure Boot, and
// the run warns. A systemd-boot disk whose init is not systemd is not
// booted under UEFI at all: systemd-boot cannot arm the boot-test marker,
// and only systemd's marker reads the signal itself.

// noSignedChain is the warning for a spec without the signed chain.
func noSignedChain(s *spec.Spec) string {
	return fmt.Sprintf("Secure Boot is not supported for %s on %s yet (Linux Builder boots only Debian's signed shim, GRUB and kernel, on x86_64): "+
		"the ISO and disk images boot UEFI machines with Secure Boot off, and are not boot-tested with it", s.Base, s.Architecture)
}

// isoFirmwares are the firmwares the ISO boots with, and why any
// configured one is left out.
func isoFirmwares(s *spec.Spec, configured []Firmware) (fws []Firmware, skipped []string) {
	for _, fw := range configured {
		if fw == UEFISecureBoot && s != nil && !s.SignedBootChain() {
			skipped = append(skipped, noSignedChain(s))
			continue
		}
		fws = append(fws, fw)
	}
	return fws, skipped
}

// diskFirmwares are the firmwares the spec's disk image boots with, and
// why any is left out.
func diskFirmwares(s *spec.Spec, configured []Firmware) (fws []Firmware, skipped []string) {
	cu := s.Customization
	if cu.Firmware.HasBIOS() {
		fws = append(fws, BIOS)
	}
	if !cu.Firmware.HasUEFI() {
		return fws, nil
	}
	if cu.Bootloader == spec.BootSystemdBoot && s.Init != spec.InitSystemd {
		return fws, []string{fmt.Sprintf("the disk image is not boot-tested under UEFI: its boot loader there, systemd-boot, cannot arm the boot-test marker "+
			"(it cannot read the test machine's SMBIOS signal), and the marker of init %s does not read it itself (systemd's does)", s.Init)}
	}
	fws = append(fws, UEFI)
	switch {
	case !slices.Contains(configured, UEFISecureBoot):
	case !s.SignedBootChain():
		skipped = append(skipped, noSignedChain(s))
	case cu.Bootloader == spec.BootSystemdBoot:
		skipped = append(skipped, fmt.Sprintf("the disk image is not boot-tested with Secure Boot: its UEFI boot loader, systemd-boot, is not signed by %s "+
			"(it boots UEFI machines only with Secure Boot off; bootloader: grub boots with it on)", s.Base))
	default:
		fws = append(fws, UEFISecureBoot)
	}
	return fws, skipped
}

// warnOnce warns, unless the run already warned msg.
func (r *execution) warnOnce(ctx context.Context, msg string) {
	if !slices.Contains(r.warnings, msg) {
		r.warn(ctx, msg)
	}
}

// warnSecureBoot says, once the ISO or the disk image is made, that a
// spec without the distribution's signed chain does not boot with Secure
// Boot.
func (r *execution) warnSecureBoot(ctx context.Context) {
	if r.spec != nil && !r.spec.SignedBootChain() {
		r.warnOnce(ctx, noSignedChain(r.spec))
	}
}
