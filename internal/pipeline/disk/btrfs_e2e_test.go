package disk_test

import (
	"os"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// A btrfs disk image, end to end on the real engine: minimal-debian with
// a btrfs root compressed with zstd, with snapshots, and a /srv partition
// (btrfs too: the root's file system by default) and a swap. The file
// systems are made by mkfs.btrfs in the sandboxed tools container, from
// the image's stream; the disk then boots under BIOS and under UEFI with
// Secure Boot (the signed GRUB reads the btrfs /boot; plain UEFI boots
// the same loaders, as the ext4 disk's test shows), and the system says from inside what it mounted: its root
// is the @ subvolume with compress=zstd, /home is @home, /.snapshots is
// @snapshots, /srv is its own btrfs, and the swap is on.
func TestBtrfsDiskBootsWithItsSubvolumes(t *testing.T) {
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, "filesystem:\n  root: btrfs\n  compression: zstd\n  snapshots: true\n  partitions: [{mount: /srv, size: 128M}, {mount: swap, size: 256M}]\n"...)
	d := runSpec(t, src, []spec.Output{spec.OutputQCOW2}, []pipeline.Firmware{pipeline.BIOS, pipeline.UEFISecureBoot})
	arts, err := d.db.Artifacts(t.Context(), d.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{}
	for _, a := range arts {
		if name, ok := strings.CutPrefix(a.Name, "boot-disk-"); ok {
			b, err := os.ReadFile(a.Location)
			if err != nil {
				t.Fatal(err)
			}
			logs[strings.TrimSuffix(name, ".log")] = string(b)
		}
	}
	for _, l := range strings.Split(d.log, "\n") {
		if strings.Contains(l, "btrfs") || strings.Contains(l, "tools image") {
			t.Log(l)
		}
	}
	for _, fw := range []string{"bios", "uefi-secureboot"} {
		console, ok := logs[fw]
		if !ok {
			t.Fatalf("no boot-disk-%s.log", fw)
		}
		mounts := map[string][]string{} // target: fstype, source, options
		var swap []string
		for _, l := range strings.Split(console, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "linux-builder-facts: ")
			if !ok {
				continue
			}
			k, v, _ := strings.Cut(rest, " ")
			switch f := strings.Fields(v); {
			case k == "mount" && len(f) == 4:
				mounts[f[0]] = f[1:]
			case k == "swap":
				swap = append(swap, v)
			}
		}
		t.Logf("%s: mounts %q, swap %q", fw, mounts, swap)
		check := func(target, fstype, source string, opts ...string) {
			t.Helper()
			m := mounts[target]
			if len(m) != 3 || m[0] != fstype || m[1] != source {
				t.Errorf("%s: %s is mounted as %q, want %s from %s", fw, target, m, fstype, source)
				return
			}
			for _, o := range opts {
				if !strings.Contains(","+m[2]+",", ","+o+",") {
					t.Errorf("%s: %s is mounted with %s, want %s among its options", fw, target, m[2], o)
				}
			}
		}
		check("/", "btrfs", "/dev/vda3[/@]", "rw", "compress=zstd:3", "subvol=/@")
		check("/home", "btrfs", "/dev/vda3[/@home]", "compress=zstd:3", "subvol=/@home")
		check("/.snapshots", "btrfs", "/dev/vda3[/@snapshots]", "subvol=/@snapshots")
		check("/srv", "btrfs", "/dev/vda4")
		check("/boot/efi", "vfat", "/dev/vda2")
		if len(swap) != 1 || !strings.HasPrefix(swap[0], "/dev/vda5 partition") {
			t.Errorf("%s: swap %q, want /dev/vda5", fw, swap)
		}
		if !strings.Contains(console, "rootflags=subvol=@") {
			t.Errorf("%s: the kernel command line has no rootflags=subvol=@", fw)
		}
	}
}
