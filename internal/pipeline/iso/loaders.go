package iso

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// The UEFI boot loaders come from the image's own packages, never from the
// host: Debian's shim-signed (shim, signed by Microsoft's UEFI CA, with
// Debian's CA inside), grub-efi-amd64-signed (GRUB, monolithic, signed by
// Debian) and systemd-boot. The rewriter captures these few files as they
// stream past (they are written to the system too), within the same caps
// as /boot's; their names are resolved inside the image's namespace, as
// the kernel's are, and must resolve inside their package's directory.

// Where the image's packages put the boot loaders.
const (
	ShimPath        = "usr/lib/shim/shimx64.efi.signed"
	MokManagerPath  = "usr/lib/shim/mmx64.efi.signed"
	GRUBSignedPath  = "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
	GRUBCDPath      = "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed"
	SystemdBootPath = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
)

// loaderFiles are the files captured; loaderDirs the directories the tree
// indexes (their files may be links to one another).
var (
	loaderFiles = map[string]bool{ShimPath: true, MokManagerPath: true, GRUBSignedPath: true, GRUBCDPath: true, SystemdBootPath: true}
	loaderDirs  = []string{"usr/lib/shim", "usr/lib/grub/x86_64-efi-signed", "usr/lib/systemd/boot/efi"}
)

// aboveLoaders reports whether name is a directory above a loader
// directory (usr, usr/lib, …): the tree needs them to resolve a name.
func aboveLoaders(name string) bool {
	for _, d := range loaderDirs {
		if strings.HasPrefix(d, name+"/") {
			return true
		}
	}
	return false
}

// underLoaders reports whether name is in a loader directory.
func underLoaders(name string) bool {
	for _, d := range loaderDirs {
		if under(name, d) {
			return true
		}
	}
	return false
}

// Loaders are the host paths of the captured copies of the image's UEFI
// boot loaders; "" for one the image does not have.
type Loaders struct {
	Shim, MokManager string
	// GRUB is the signed GRUB for disks (it reads /EFI/debian/grub.cfg on
	// the partition it was loaded from); GRUBCD the one for CDs (it reads
	// /boot/grub/grub.cfg on the CD).
	GRUB, GRUBCD string
	SystemdBoot  string
}

// Signed reports whether the image has the signed chain a Secure Boot
// machine boots: shim and the signed GRUB (for a disk, or a CD).
func (l Loaders) Signed(cd bool) bool {
	if cd {
		return l.Shim != "" && l.GRUBCD != ""
	}
	return l.Shim != "" && l.GRUB != ""
}

// loaders finds the captured boot loaders. A loader the image does not
// have is ""; one that resolves outside its directory, is over the cap or
// empty is an error.
func (t tree) loaders(max int64) (Loaders, error) {
	var l Loaders
	for _, f := range []struct {
		name string
		dst  *string
	}{{ShimPath, &l.Shim}, {MokManagerPath, &l.MokManager}, {GRUBSignedPath, &l.GRUB}, {GRUBCDPath, &l.GRUBCD}, {SystemdBootPath, &l.SystemdBoot}} {
		p, err := t.capturedFile(f.name, path.Dir(f.name), max)
		switch {
		case errors.Is(err, errNotExist):
		case err != nil:
			return Loaders{}, fmt.Errorf("/%s: %w", f.name, err)
		default:
			*f.dst = p
		}
	}
	return l, nil
}
