package disk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline/iso"
)

// The ESP's UEFI boot loader: systemd-boot when asked (the image's, with
// a loader entry carrying the spec's parameters), else the image's signed
// shim and GRUB with Debian's config path, else the host's GRUB; asking
// for systemd-boot without it in the image is an error.
func TestChooseUEFILoader(t *testing.T) {
	work := t.TempDir()
	stand := func(name string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signed := iso.Loaders{Shim: stand("shim"), GRUB: stand("grub"), MokManager: stand("mm"), SystemdBoot: stand("sd-boot")}
	c := espConfig{volumeID: "ABCD-1234", rootUUID: "u-u-i-d", cmdline: "lb.x=1", name: "Linux Builder (box)"}
	dsts := func(l uefiLoader) map[string]string {
		m := map[string]string{}
		for _, f := range l.files {
			b, _ := os.ReadFile(f.Src)
			m[f.Dst] = string(b)
		}
		return m
	}

	l, err := chooseUEFILoader(context.Background(), work, bootSystemdBoot, signed, c)
	if err != nil {
		t.Fatal(err)
	}
	got := dsts(l)
	if got["EFI/BOOT/BOOTX64.EFI"] != "sd-boot" || got["EFI/systemd/systemd-bootx64.efi"] != "sd-boot" ||
		!strings.Contains(got["loader/loader.conf"], "default linux-builder.conf") ||
		!strings.Contains(got["loader/entries/linux-builder.conf"], "linux /EFI/linux-builder/vmlinuz\ninitrd /EFI/linux-builder/initrd.img\noptions root=UUID=u-u-i-d ro console=tty0 console=ttyS0,115200n8 panic=10 lb.x=1\n") {
		t.Errorf("systemd-boot ESP: %q", got)
	}

	l, err = chooseUEFILoader(context.Background(), work, bootGRUB, signed, c)
	if err != nil {
		t.Fatal(err)
	}
	got = dsts(l)
	if got["EFI/BOOT/BOOTX64.EFI"] != "shim" || got["EFI/BOOT/grubx64.efi"] != "grub" || got["EFI/BOOT/mmx64.efi"] != "mm" ||
		got["EFI/debian/grub.cfg"] != grubEmbedded(c.volumeID) || len(got) != 4 {
		t.Errorf("signed ESP: %q", got)
	}

	if _, err := chooseUEFILoader(context.Background(), work, bootSystemdBoot, iso.Loaders{}, c); err == nil ||
		!strings.Contains(err.Error(), "has no /usr/lib/systemd/boot/efi/systemd-bootx64.efi") {
		t.Errorf("systemd-boot missing: %v", err)
	}
	if _, err := chooseUEFILoader(context.Background(), work, "lilo", signed, c); err == nil {
		t.Error("an unknown boot loader was accepted")
	}
}
