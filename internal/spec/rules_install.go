package spec

import (
	"slices"
)

// HasInstaller reports whether the spec's live ISO carries
// linux-builder-install, which installs the system on a disk laid out as
// the filesystem section says: the Debian family on x86_64 (live-boot's
// read-only root to copy from, initramfs-tools with cryptsetup, GRUB for
// BIOS and UEFI), with a root file system the installer makes.
func (s *Spec) HasInstaller() bool {
	return installerBase(s) && slices.Contains(InstallerRootFS, s.Filesystem.Root)
}

// InstallsSystemdBoot reports whether linux-builder-install boots UEFI
// machines with systemd-boot: the spec asks for it, and the system has
// systemd's kernel-install, which puts the kernel and its entry on the ESP
// (at the install and at every kernel upgrade). Other installs use GRUB.
func (s *Spec) InstallsSystemdBoot() bool {
	return s.HasInstaller() && s.Customization.Bootloader == BootSystemdBoot && s.Init == InitSystemd &&
		s.Customization.Firmware != FirmwareBIOS
}

// installerBase reports whether the spec's live ISO can carry the
// installer, whatever its root file system.
func installerBase(s *Spec) bool {
	return (slices.Contains(s.Outputs, OutputISO) || s.DiskByInstall()) && installerCapable(s)
}

// installerCapable reports whether the spec's system can carry
// linux-builder-install (Debian and Ubuntu on x86-64).
func installerCapable(s *Spec) bool {
	return (s.Base == BaseDebian || s.Base == BaseUbuntu) && s.Architecture == ArchX8664
}

// DiskInstallRootFS are the root file systems a disk image gets only by
// installation: the disk step has no lossless writer of its own for them
// (mkfs.xfs's protofile and sload.f2fs lose extended attributes, hard
// links or owners), so the image is installed from the live ISO instead.
var DiskInstallRootFS = []FSType{FSXFS, FSF2FS}

// DefaultInstallDiskBytes is the size of a disk image made by
// installation when filesystem.diskSize is not set: 8G (the raw file and
// the qcow2 are sparse: their unused part costs nothing).
const DefaultInstallDiskBytes = int64(8) << 30

// MinInstallDiskBytes is the smallest disk an installed disk image is
// made on (internal/pipeline/disk's minInstallDisk).
const MinInstallDiskBytes = int64(2) << 30

// DiskByInstall reports whether the spec's disk images are made by
// installing the system from its live ISO in a virtual machine
// (linux-builder-install, unattended, on a blank disk): an xfs or f2fs
// root, or LVM (device-mapper, which the disk step does not use), on a
// system that carries the installer. Such an image is laid out as
// linux-builder-install lays out a disk. Encrypted disk images are not
// made either way (a key baked into a published image protects nothing).
func (s *Spec) DiskByInstall() bool {
	fs := s.Filesystem
	return s.HasDiskImage() && installerCapable(s) && (fs.Encryption == EncNone || fs.Encryption == "") &&
		slices.Contains(InstallerRootFS, fs.Root) && (slices.Contains(DiskInstallRootFS, fs.Root) || fs.LVM)
}

// DiskImageBytes is the size of the disk the disk step makes: the
// spec's filesystem.diskSize, else for an installed image
// DefaultInstallDiskBytes, else 0 (sized from the image).
func (s *Spec) DiskImageBytes() int64 {
	if n := s.DiskSizeBytes(); n > 0 || !s.DiskByInstall() {
		return n
	}
	return DefaultInstallDiskBytes
}

// InstallerRootFS are the root file systems linux-builder-install makes.
var InstallerRootFS = []FSType{FSExt4, FSBtrfs, FSXFS, FSF2FS}

// InstallerCompression are the compress= algorithms of btrfs.
var InstallerCompression = []Compression{"zstd", "lzo", "zlib"}

// installerOwnMounts are the partitions the installer lays out itself:
// the root takes the rest of the disk, /boot is ext4 of 1G (unencrypted:
// GRUB reads the kernel there), the ESP 512M.
var installerOwnMounts = []MountPoint{"/", "/boot", "/boot/efi", "/efi"}

// ruleInstaller says, at its position, what of the filesystem section an
// install (linux-builder-install on the live ISO) does not honour; nothing
// is left out silently. It says nothing when there is no installer: the
// disk-only rule covers those specs.
func ruleInstaller(c *ruleCtx) {
	s := c.s
	if !installerBase(s) {
		return
	}
	fs := s.Filesystem
	if !slices.Contains(InstallerRootFS, fs.Root) {
		c.warnf("filesystem.root", "use root: ext4, btrfs, xfs or f2fs",
			"linux-builder-install does not make a %s root yet: the live ISO carries no installer", fs.Root)
		return
	}
	if fs.LVM && fs.Snapshots && fs.Root != FSBtrfs {
		c.warnf("filesystem.snapshots", "", "linux-builder-install makes no thin pool: it leaves a fifth of the volume group free for classic LVM snapshots (lvcreate --snapshot)")
	}
	if fs.LVM && slices.ContainsFunc(fs.Partitions, func(p Partition) bool { return p.Mount == "swap" }) {
		if fs.Encryption != EncNone && fs.Encryption != "" {
			c.warnf("filesystem.partitions", "", "with lvm, linux-builder-install makes the swap a logical volume in the encrypted root: it is encrypted with the root's key, not a new key at each boot")
		} else {
			c.warnf("filesystem.partitions", "", "with lvm, linux-builder-install makes the swap a logical volume of the volume group, not a partition")
		}
	}
	if fs.RAID != "none" && fs.RAID != "" && !s.HasDiskImage() { // disk images: ruleDiskLayout's error
		c.warnf("filesystem.raid", "remove raid", "linux-builder-install does not make RAID arrays yet: installs use one disk")
	}
	if fs.Root == FSF2FS && fs.Compression != "none" && fs.Compression != "" {
		installerLimit(c, "filesystem.compression", "remove compression", "linux-builder-install makes f2fs without compression (it compresses btrfs only)")
	}
	if s.Init == InitS6 && fs.Encryption != EncNone && fs.Encryption != "" && !fs.LVM && slices.ContainsFunc(fs.Partitions, func(p Partition) bool { return p.Mount == "swap" }) {
		c.warnf("filesystem.partitions", "", "on s6, an installed system does not open its encrypted swap (its boot mounts file systems and swaps on, without crypttab): the swap stays off")
	}
	if s.Customization.Bootloader == BootSystemdBoot && s.Init != InitSystemd {
		installerLimit(c, "customization.bootloader", "use bootloader: grub, or init: systemd",
			"linux-builder-install puts systemd-boot on the ESP with systemd's kernel-install, which a system with init %s lacks: installed systems boot UEFI machines with GRUB", s.Init)
	}
	for i, p := range fs.Partitions {
		ruleInstallerPartition(c, indexPath("filesystem.partitions", i), p)
	}
}

// installerLimit says what linux-builder-install does not honour: a
// warning for installs from the live ISO, an error when the spec's disk
// images are installed by it (the published disk would differ from the
// spec).
func installerLimit(c *ruleCtx, path, hint, format string, args ...any) {
	if c.s.DiskByInstall() {
		c.errorf(path, hint, format+"; this spec's disk images are installed by it", args...)
		return
	}
	c.warnf(path, hint, format, args...)
}

// ruleInstallerPartition says what linux-builder-install makes of one
// entry of filesystem.partitions.
func ruleInstallerPartition(c *ruleCtx, path string, p Partition) {
	fs := c.s.Filesystem
	sz, sized := readPartitionSize(p.Size)
	switch {
	case p.Mount == "swap":
		// A swap taking the rest is rulePartitions's error.
		return
	case slices.Contains(installerOwnMounts, p.Mount):
		switch {
		case p.Mount != "/" && c.s.DiskByInstall():
			installerLimit(c, path, "remove the entry", "linux-builder-install lays out %s itself (the ESP 512M at /boot/efi, /boot ext4 1G)", p.Mount)
		case p.Mount != "/":
			c.warnf(path, "", "linux-builder-install lays out %s itself (the ESP 512M at /boot/efi, /boot ext4 1G); this entry applies to disk images only", p.Mount)
		case p.Size != "rest" && c.s.DiskByInstall():
			installerLimit(c, path+".size", "use size: rest", "linux-builder-install gives the root the rest of the disk, not %s", p.Size)
		case p.Size != "rest":
			c.warnf(path+".size", "", "linux-builder-install gives the root the rest of the disk; size %s applies to disk images only", p.Size)
		}
		return
	case ReservedMount(string(p.Mount)):
		c.errorf(path+".mount", "mount it elsewhere, such as /home, /var or /srv",
			"linux-builder-install cannot make a partition at %s: the boot loader's and the system's own directories stay on the root file system (and /boot)", p.Mount)
		return
	case sized && sz.bytes > 0 && sz.bytes < minPartitionBytes:
		c.errorf(path+".size", "make it 16M or more", "partition %s of %s is smaller than the 16M its file system needs", p.Mount, p.Size)
		return
	case fs.Root == FSBtrfs && (p.Mount == "/home" || p.Mount == "/.snapshots" && fs.Snapshots):
		c.errorf(path, "remove the partition: the btrfs root's subvolume holds "+string(p.Mount),
			"partition %s would be mounted over the btrfs root's subvolume %s, which linux-builder-install mounts there", p.Mount, map[MountPoint]string{"/home": "@home", "/.snapshots": "@snapshots"}[p.Mount])
		return
	}
	// A partition without fs: has the root's (normalize).
	if p.FS != "" && p.FS != "ext4" {
		installerLimit(c, path+".fs", "use fs: ext4", "linux-builder-install makes the partition %s ext4, not %s", p.Mount, p.FS)
	}
	if fs.Encryption != EncNone && fs.Encryption != "" {
		c.errorf(path, "remove the partition (its files go on the encrypted root), or remove encryption",
			"partition %s would be left unencrypted by linux-builder-install, which encrypts the root and the swap only", p.Mount)
	}
}
