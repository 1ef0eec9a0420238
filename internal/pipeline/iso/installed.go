package iso

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// The disk-image step (internal/pipeline/disk) shares this package's
// rewriter: an installed system is the same hostile export, read the same
// way (names cleaned, devices dropped, links resolved inside the image,
// everything bounded), with three differences: /boot keeps its contents
// (the installed system's package manager owns them), the kernel and
// initramfs are captured as they stream past, and /etc/fstab is the
// step's own.

// BootTestParam is the kernel parameter that arms the boot-test marker
// of an installed system and of the live ISO (see pipeline.BootTestParam).
const BootTestParam = pipeline.BootTestParam

// installedOwned are the files the disk step writes itself, on top of
// owned.
var installedOwned = map[string]bool{"etc/fstab": true, markerSMBIOSDropIn: true, factsSMBIOSDropIn: true}

// markerSMBIOSDropIn and factsSMBIOSDropIn gate the systemd marker unit
// and the boot facts' on the SMBIOS signal itself
// (InstalledOptions.MarkerReadsSMBIOS).
const (
	markerSMBIOSDropIn = "etc/systemd/system/linux-builder-boot-marker.service.d/10-linux-builder-smbios.conf"
	factsSMBIOSDropIn  = "etc/systemd/system/linux-builder-boot-facts.service.d/10-linux-builder-smbios.conf"
)

// InstalledOptions say what the disk step adds to the installed system.
type InstalledOptions struct {
	// Fstab is /etc/fstab (by UUID; the step made the file systems).
	Fstab string
	// Marker, when set, is printed on the serial console once the system
	// is up, when the kernel command line has BootTestParam; the system
	// then powers off.
	Marker string
	// MountPoints are directories the installed system must have as
	// directories (the ESP's mount point, /boot/efi).
	MountPoints []string
	// MarkerReadsSMBIOS is for a boot loader that cannot read the
	// boot-test signal (systemd-boot has no smbios command, so it cannot
	// add BootTestParam): the systemd marker unit then reads the signal
	// itself (ConditionFirmware=smbios-field(product_family = …), systemd
	// 249 and later) instead of the kernel command line. Other inits'
	// markers have no such gate: they stay unarmed.
	MarkerReadsSMBIOS bool
	Limits            Limits
}

// Installed is what RewriteInstalled found in the image.
type Installed struct {
	// Kernel and Initrd are the host paths of the captured copies of the
	// files the image's boot-files record names (resolved inside the
	// image), in the capture directory.
	Kernel, Initrd string
	// KernelName is the kernel's name in the image (/boot/vmlinuz-…).
	KernelName, InitrdName string
	// Loaders are the image's UEFI boot loaders (loaders.go).
	Loaders Loaders
	// Cmdline is the spec's kernel parameters (validated).
	Cmdline   string
	Init      string
	Initramfs string
	Hostname  string
	Entries   int
	Dropped   map[string]int
}

// RewriteInstalled reads the image's export from r and writes the
// installed system's tar to w, capturing the boot files into captureTo (a
// directory of the caller's own). Nothing read from r names a host path.
func RewriteInstalled(r io.Reader, w io.Writer, captureTo string, opt InstalledOptions) (*Installed, error) {
	if strings.ContainsRune(opt.Fstab, 0) {
		return nil, fmt.Errorf("fstab has a NUL byte")
	}
	forced := []string{"etc"}
	for _, m := range opt.MountPoints {
		c, ok := clean(m)
		if !ok || c == "" {
			return nil, fmt.Errorf("mount point %q: not a directory inside the root", m)
		}
		forced = append(forced, c)
	}
	if opt.Marker != "" {
		forced = append(forced, markerDirs()...)
		if opt.MarkerReadsSMBIOS {
			forced = append(forced, path.Dir(markerSMBIOSDropIn), path.Dir(factsSMBIOSDropIn))
		}
	}
	var rec *records
	found, err := rewriteAs(true, r, w, captureTo, opt.Limits, forced, func(found *Rewritten) ([]file, error) {
		var err error
		if rec, err = readRecords(found.tree); err != nil {
			return nil, err
		}
		fs, err := rec.installedFiles(opt.Marker, opt.Fstab)
		if err == nil && opt.Marker != "" && opt.MarkerReadsSMBIOS && rec.init == "systemd" {
			fs = append(fs, file{name: markerSMBIOSDropIn, mode: 0o644, typ: tar.TypeReg, body: markerSMBIOSGate},
				file{name: factsSMBIOSDropIn, mode: 0o644, typ: tar.TypeReg, body: markerSMBIOSGate})
		}
		for _, m := range forced[1 : 1+len(opt.MountPoints)] {
			fs = append(fs, file{name: m, mode: 0o755, typ: tar.TypeDir})
		}
		return fs, err
	})
	if err != nil {
		return nil, err
	}
	// What follows the tar's end (the record padding) is read so an
	// export ends normally; anything longer is not an export.
	if n, err := io.Copy(io.Discard, io.LimitReader(r, maxTrailer+1)); err != nil {
		return nil, fmt.Errorf("read the image's tar stream: %w", err)
	} else if n > maxTrailer {
		return nil, fmt.Errorf("the image's tar stream goes on for more than %d bytes after its end", maxTrailer)
	}
	out := &Installed{KernelName: rec.kernel, InitrdName: rec.initrd, Cmdline: rec.cmdline, Init: rec.init,
		Initramfs: rec.initramfs, Hostname: rec.hostname, Entries: found.Entries, Dropped: found.Dropped}
	max := opt.Limits.withDefaults().MaxBootFile
	if out.Kernel, err = found.tree.bootFile(rec.kernel, max); err != nil {
		return nil, fmt.Errorf("boot-files KERNEL=%s: %w", rec.kernel, err)
	}
	if out.Initrd, err = found.tree.bootFile(rec.initrd, max); err != nil {
		return nil, fmt.Errorf("boot-files INITRD=%s: %w", rec.initrd, err)
	}
	if out.Loaders, err = found.tree.loaders(max); err != nil {
		return nil, fmt.Errorf("boot loaders: %w", err)
	}
	return out, nil
}

// markerSMBIOSGate replaces the marker unit's condition with the SMBIOS
// signal (pipeline.SystemdSMBIOSGate).
var markerSMBIOSGate = pipeline.SystemdSMBIOSGate("this disk's UEFI boot loader (systemd-boot)")

// installedFiles are the files the disk step owns in the installed
// system: the live system's (an empty machine-id, so the first boot makes
// one; host name; hosts), fstab, and the marker armed by BootTestParam.
func (r *records) installedFiles(marker, fstab string) ([]file, error) {
	fs, err := r.liveFiles("")
	if err != nil {
		return nil, err
	}
	fs = append(fs, file{name: "etc/fstab", mode: 0o644, typ: tar.TypeReg, body: fstab})
	return r.markerFiles(fs, marker)
}
