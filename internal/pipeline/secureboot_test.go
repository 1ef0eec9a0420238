package pipeline

import (
	"slices"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// Which firmwares boot a run's ISO and disk: Secure Boot only where the
// signed chain is (Debian on x86_64) and, for a disk, where its UEFI boot
// loader is GRUB; every boot left out says why.
func TestFirmwaresPerSpec(t *testing.T) {
	all := []Firmware{BIOS, UEFI, UEFISecureBoot}
	sp := func(base spec.Base, arch spec.Architecture, init spec.InitSystem, loader spec.Bootloader, fw spec.Firmware) *spec.Spec {
		s := &spec.Spec{Base: base, Architecture: arch, Init: init}
		s.Customization.Bootloader, s.Customization.Firmware = loader, fw
		return s
	}
	tests := []struct {
		name       string
		s          *spec.Spec
		configured []Firmware
		iso, disk  []Firmware
		why        string // in a skip reason ("" for none)
	}{
		{"debian boots everything", sp(spec.BaseDebian, spec.ArchX8664, spec.InitSystemd, spec.BootGRUB, spec.FirmwareBoth), all,
			all, all, ""},
		{"fedora has no signed chain here", sp(spec.BaseFedora, spec.ArchX8664, spec.InitSystemd, spec.BootGRUB, spec.FirmwareBoth), all,
			[]Firmware{BIOS, UEFI}, []Firmware{BIOS, UEFI}, "Secure Boot is not supported for fedora on x86_64 yet"},
		{"debian on aarch64 has no signed chain here", sp(spec.BaseDebian, spec.ArchAarch64, spec.InitSystemd, spec.BootGRUB, spec.FirmwareUEFI), all,
			[]Firmware{BIOS, UEFI}, []Firmware{UEFI}, "not supported for debian on aarch64"},
		{"systemd-boot is not signed", sp(spec.BaseDebian, spec.ArchX8664, spec.InitSystemd, spec.BootSystemdBoot, spec.FirmwareBoth), all,
			all, []Firmware{BIOS, UEFI}, "systemd-boot, is not signed by debian"},
		{"systemd-boot cannot arm openrc's marker", sp(spec.BaseDebian, spec.ArchX8664, spec.InitOpenRC, spec.BootSystemdBoot, spec.FirmwareBoth), all,
			all, []Firmware{BIOS}, "the marker of init openrc does not read it"},
		{"secure boot not configured", sp(spec.BaseDebian, spec.ArchX8664, spec.InitSystemd, spec.BootGRUB, spec.FirmwareUEFI), []Firmware{BIOS},
			[]Firmware{BIOS}, []Firmware{UEFI}, ""},
		{"a BIOS-only disk", sp(spec.BaseDebian, spec.ArchX8664, spec.InitSystemd, spec.BootGRUB, spec.FirmwareBIOS), all,
			all, []Firmware{BIOS}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iso, whyISO := isoFirmwares(tc.s, tc.configured)
			disk, whyDisk := diskFirmwares(tc.s, tc.configured)
			if !slices.Equal(iso, tc.iso) || !slices.Equal(disk, tc.disk) {
				t.Errorf("iso %v, disk %v; want %v, %v", iso, disk, tc.iso, tc.disk)
			}
			why := strings.Join(append(whyISO, whyDisk...), "\n")
			if (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("reasons %q, want %q", why, tc.why)
			}
		})
	}
}
