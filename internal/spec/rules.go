package spec

import (
	"fmt"
	pathpkg "path"
	"slices"
)

// A rule checks one compatibility concern across fields. Rules run on a
// decoded and normalised spec; they only report, never change it.
type rule struct {
	name  string
	check func(c *ruleCtx)
}

// rules is every compatibility rule, in the order they run. Each has a table
// test in rules_test.go.
var rules = []rule{
	{"release-known", ruleReleaseKnown},
	{"init-distro", ruleInitDistro},
	{"architecture", ruleArchitecture},
	{"kernel", ruleKernel},
	{"gentoo-build-time", ruleGentoo},
	{"filesystem-features", ruleFilesystemFeatures},
	{"zfs-support", ruleZFS},
	{"partitions", rulePartitions},
	{"partitions-fit", rulePartitionsFit},
	{"firmware", ruleFirmware},
	{"luks-boot", ruleLUKSBoot},
	{"mac-conflict", ruleMACConflict},
	{"mac-distro", ruleMACDistro},
	{"display-compositor", ruleDisplayCompositor},
	{"display-components", ruleDisplayComponents},
	{"display-theme", ruleDisplayTheme},
	{"firewall", ruleFirewall},
	{"ssh", ruleSSH},
	{"updates", ruleUpdates},
	{"kernel-hardening", ruleKernelHardening},
	{"services-conflict", ruleServices},
	{"backup", ruleBackup},
	{"schedule", ruleSchedule},
	{"shell", ruleShell},
	{"bootloader", ruleBootloader},
	{"disk-only", ruleDiskOnly},
	{"disk-layout", ruleDiskLayout},
	{"installer", ruleInstaller},
	{"post-install", rulePostInstall},
	{"package-names", rulePackageNames},
	{"users", ruleUsers},
	{"dotfiles-host", ruleDotfilesHost},
}

type ruleCtx struct {
	doc   *Document
	s     *Spec
	diags Diagnostics
}

func (c *ruleCtx) report(sev Severity, path, hint, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{
		File: c.doc.File, Pos: c.doc.Pos(path), Severity: sev, Code: CodeRule, Path: path,
		Message: fmt.Sprintf(format, args...), Hint: hint,
	})
}

func (c *ruleCtx) errorf(path, hint, format string, args ...any) {
	c.report(SeverityError, path, hint, format, args...)
}

func (c *ruleCtx) warnf(path, hint, format string, args ...any) {
	c.report(SeverityWarning, path, hint, format, args...)
}

// set reports whether path was written in the source (rather than filled in
// by a default).
func (c *ruleCtx) set(path string) bool {
	_, ok := c.doc.positions[path]
	return ok
}

// checkRules runs every rule over doc.Spec.
func checkRules(doc *Document) Diagnostics {
	c := &ruleCtx{doc: doc, s: doc.Spec}
	for _, r := range rules {
		r.check(c)
	}
	return c.diags
}

var distroName = map[Base]string{
	BaseArch: "Arch Linux", BaseDebian: "Debian", BaseUbuntu: "Ubuntu", BaseAlpine: "Alpine",
	BaseFedora: "Fedora", BaseOpenSUSE: "openSUSE", BaseVoid: "Void Linux", BaseGentoo: "Gentoo",
}

func ruleReleaseKnown(c *ruleCtx) {
	if !slices.Contains(KnownReleases[c.s.Base], c.s.Release) {
		c.warnf("release", "known releases: "+joinAny(KnownReleases[c.s.Base]),
			"release %q of %s is not one this builder is tested with; the build may fail if its base image does not exist", c.s.Release, distroName[c.s.Base])
	}
}

// initSupport says how well each distribution supports each init system.
// Absent pairs are errors with the reason given in initUnsupported.
var initSupport = map[Base]map[InitSystem]string{
	BaseArch: {InitSystemd: ""},
	BaseDebian: {InitSystemd: "", InitOpenRC: "Debian packages OpenRC, but many of its services ship only systemd units", InitRunit: "Debian packages runit-init, but many of its services ship only systemd units",
		InitS6: "Debian packages s6 but not s6-linux-init or s6-rc: Linux Builder makes s6-svscan PID 1 with its own stage 1 (mounts, udev, gettys on tty1 and ttyS0, poweroff and reboot), and s6 service definitions are generated"},
	BaseUbuntu:   {InitSystemd: ""},
	BaseAlpine:   {InitOpenRC: "", InitS6: "Alpine packages s6 and s6-rc, but its services ship OpenRC scripts; s6 service definitions are generated", InitRunit: "Alpine packages runit, but its services ship OpenRC scripts; runit service definitions are generated"},
	BaseFedora:   {InitSystemd: ""},
	BaseOpenSUSE: {InitSystemd: ""},
	BaseVoid:     {InitRunit: "", InitS6: "Void packages s6, but its services ship runit definitions; s6 service definitions are generated"},
	BaseGentoo:   {InitOpenRC: "", InitSystemd: "", InitRunit: "Gentoo packages runit, but its services ship OpenRC scripts", InitS6: "Gentoo packages s6, but its services ship OpenRC scripts"},
}

var initUnsupported = map[Base]string{
	BaseArch:     "Arch Linux ships only systemd (Artix is the Arch derivative with openrc, runit and s6)",
	BaseDebian:   "",
	BaseUbuntu:   "Ubuntu supports only systemd",
	BaseAlpine:   "Alpine does not ship systemd",
	BaseFedora:   "Fedora supports only systemd",
	BaseOpenSUSE: "openSUSE supports only systemd",
	BaseVoid:     "Void Linux ships runit (and s6), not systemd or OpenRC",
	BaseGentoo:   "",
}

func ruleInitDistro(c *ruleCtx) {
	why, ok := initSupport[c.s.Base][c.s.Init]
	switch {
	case !ok:
		c.errorf("init", "use "+string(DefaultInit[c.s.Base]), "init %s is not available on %s: %s", c.s.Init, c.s.Base, initUnsupported[c.s.Base])
	case why != "":
		c.warnf("init", "", "init %s on %s is possible but unusual: %s", c.s.Init, c.s.Base, why)
	}
}

func ruleArchitecture(c *ruleCtx) {
	if c.s.Architecture != ArchAarch64 {
		return
	}
	if c.s.Base == BaseArch {
		c.warnf("architecture", "", "Arch Linux itself is x86_64 only; aarch64 builds use Arch Linux ARM, a separate project with its own mirrors and release cadence")
	}
	c.warnf("architecture", "", "aarch64 images are built under QEMU user-mode emulation on x86_64 builders and take several times longer")
}

func ruleKernel(c *ruleCtx) {
	k := c.s.Kernel
	if len(k.CustomFlags) > 0 {
		c.errorf("kernel.customFlags", "remove customFlags",
			"kernels are not compiled from source yet: every build installs %s's packaged kernel, which these flags would not change", distroName[c.s.Base])
	}
	ruleKernelVersion(c)
	for i, p := range c.s.Defaults.KernelParams {
		if ReservedKernelParam(string(p)) {
			c.errorf(indexPath("defaults.kernelParams", i), "remove it",
				"kernel parameter %q is reserved for Linux Builder: linux-builder.* and the console's Secure Boot line are the boot test's, lb.install* the installer's (given at one boot, never built in: the live system would erase the disk at every boot)", p)
		}
	}
	seen := map[KernelModule]bool{}
	for i, m := range k.Modules {
		if seen[m] {
			c.warnf(indexPath("kernel.modules", i), "", "module %s is listed twice", m)
		}
		seen[m] = true
	}
}

func ruleGentoo(c *ruleCtx) {
	if c.s.Base == BaseGentoo {
		c.warnf("base", "", "Gentoo compiles packages from source: a first build takes hours, and a desktop much longer")
	}
}

// compressionSupport lists the compression algorithms each file system has.
var compressionSupport = map[FSType][]Compression{
	FSBtrfs:    {"zstd", "lzo", "zlib"},
	FSZFS:      {"zstd", "lz4", "gzip"},
	FSBcachefs: {"zstd", "lz4", "gzip"},
	FSF2FS:     {"zstd", "lz4", "lzo"},
}

func ruleFilesystemFeatures(c *ruleCtx) {
	fs := c.s.Filesystem
	if fs.Compression != "none" && !slices.Contains(compressionSupport[fs.Root], fs.Compression) {
		if algs := compressionSupport[fs.Root]; len(algs) > 0 {
			c.errorf("filesystem.compression", "choose one of "+joinAny(algs), "%s does not support %s compression", fs.Root, fs.Compression)
		} else {
			c.errorf("filesystem.compression", "use btrfs, zfs, bcachefs or f2fs for compression", "%s has no transparent compression", fs.Root)
		}
	}
	if fs.Snapshots && fs.Root != FSBtrfs && fs.Root != FSZFS && fs.Root != FSBcachefs && !fs.LVM {
		c.errorf("filesystem.snapshots", "use root: btrfs, or lvm: true for thin-volume snapshots",
			"snapshots need a copy-on-write root (btrfs, zfs, bcachefs) or LVM; %s has none", fs.Root)
	}
	if fs.RAID != "none" && (fs.Root == FSZFS || fs.Root == FSBtrfs) {
		c.warnf("filesystem.raid", "", "%s has its own redundancy; mdraid %s underneath it hides disk errors from %s's checksums", fs.Root, fs.RAID, fs.Root)
	}
}

func ruleZFS(c *ruleCtx) {
	if c.s.Filesystem.Root != FSZFS {
		return
	}
	switch c.s.Base {
	case BaseAlpine:
		c.warnf("filesystem.root", "", "ZFS on Alpine needs the zfs-lts or zfs-virt module matching the exact kernel; kernel updates can leave the root unmountable until the module catches up")
	case BaseFedora, BaseArch, BaseOpenSUSE:
		c.warnf("filesystem.root", "", "ZFS is not in %s's repositories; it is built from the OpenZFS repository as an out-of-tree module and may lag new kernels", distroName[c.s.Base])
	}
	if c.s.Customization.Bootloader == BootGRUB && !c.hasBootPartition() {
		c.warnf("filesystem.root", "add a /boot partition (ext4)", "GRUB reads only a subset of ZFS pool features; a root pool with newer features cannot hold /boot")
	}
}

func rulePartitions(c *ruleCtx) {
	fs := c.s.Filesystem
	seen := map[MountPoint]int{}
	rest := -1
	esp := false
	for i, p := range fs.Partitions {
		path := indexPath("filesystem.partitions", i)
		key := p.Mount
		if key != "swap" {
			key = MountPoint(pathpkg.Clean(string(key)))
		}
		if j, dup := seen[key]; dup {
			c.errorf(path+".mount", "", "mount point %s is used twice (first in partition %d)", p.Mount, j+1)
		}
		seen[key] = i
		if p.Size == "rest" || p.Size == "100%" {
			if rest >= 0 {
				c.errorf(path+".size", "", "only one partition can take the rest of the disk (partition %d already does)", rest+1)
			}
			rest = i
		}
		isESP := p.Mount == "/boot/efi" || p.Mount == "/efi" || (p.Mount == "/boot" && p.FS == "vfat")
		switch {
		case p.Mount == "swap" && p.FS != "swap":
			c.errorf(path+".fs", "", "a swap partition must have fs: swap")
		case p.Mount != "swap" && p.FS == "swap":
			c.errorf(path+".fs", "use mount: swap", "fs: swap cannot be mounted at %s", p.Mount)
		case isESP && p.FS != "vfat":
			c.errorf(path+".fs", "use fs: vfat", "the EFI system partition at %s must be vfat, not %s", p.Mount, p.FS)
		case p.Mount == "/" && p.FS != PartitionFS(fs.Root):
			c.errorf(path+".fs", "", "the / partition is %s but filesystem.root is %s", p.FS, fs.Root)
		case p.FS == "vfat" && !isESP:
			c.warnf(path+".fs", "", "vfat at %s has no permissions or symlinks; it is meant for the EFI system partition", p.Mount)
		}
		esp = esp || isESP
	}
	// A disk image's ESP is the disk step's own (ruleDiskPartitions
	// refuses one in the list), as linux-builder-install's is; another
	// install's is listed.
	if len(fs.Partitions) > 0 && !esp && c.s.Customization.Bootloader == BootSystemdBoot && !c.s.HasDiskImage() && !c.s.HasInstaller() {
		c.errorf("filesystem.partitions", "add {mount: /boot, size: 1G, fs: vfat} or {mount: /efi, size: 512M}",
			"systemd-boot needs a vfat EFI system partition at /boot, /efi or /boot/efi, and none is listed")
	}
}

// hasBootPartition reports whether /boot is a partition of its own. Listed
// partitions other than / sit outside the encrypted root, so such a /boot
// is readable by the boot loader.
func (c *ruleCtx) hasBootPartition() bool {
	return slices.ContainsFunc(c.s.Filesystem.Partitions, func(p Partition) bool { return p.Mount == "/boot" })
}

// ruleLUKSBoot checks that the boot loader can reach the kernel on an
// encrypted root. GRUB is the boot loader whenever the spec says grub and,
// since systemd-boot is UEFI-only, on every BIOS boot.
func ruleLUKSBoot(c *ruleCtx) {
	fs := c.s.Filesystem
	if fs.Encryption == EncNone {
		return
	}
	cu := c.s.Customization
	grub := cu.Bootloader == BootGRUB || cu.Firmware.HasBIOS()
	// who names the GRUB that has to read /boot.
	who := "GRUB"
	if cu.Bootloader != BootGRUB {
		who = "GRUB, which boots BIOS machines (systemd-boot is UEFI-only),"
	}
	switch {
	case !grub || c.hasBootPartition():
	case c.s.HasInstaller() && !c.s.HasDiskImage():
		// linux-builder-install, the only way to an encrypted system from
		// such a spec, always makes an unencrypted /boot partition.
	case fs.Encryption == EncLUKS2:
		hint := "add an unencrypted /boot partition, or use luks1"
		if cu.Firmware.HasBIOS() {
			hint += ", or firmware: uefi with bootloader: systemd-boot"
		} else {
			hint += ", or use bootloader: systemd-boot"
		}
		c.errorf("filesystem.encryption", hint,
			"%s cannot unlock LUKS2 volumes made with argon2id (the LUKS2 default), so /boot on the encrypted root cannot boot", who)
	case fs.Root == FSBcachefs:
		c.errorf("filesystem.root", "add an unencrypted /boot partition (ext4)", "%s cannot read bcachefs, so /boot cannot live on the bcachefs root", who)
	default:
		c.warnf("filesystem.encryption", "add an unencrypted /boot partition to be asked once",
			"%s unlocks the LUKS1 root itself to read /boot: the passphrase is asked twice (by GRUB, then by the initramfs) and GRUB's key derivation takes seconds", who)
	}
	switch fs.Root {
	case FSZFS, FSBcachefs:
		c.warnf("filesystem.encryption", "use "+string(fs.Root)+"'s native encryption with encryption: none",
			"%s has native encryption; LUKS underneath it adds a second layer and costs performance", fs.Root)
	}
}

func ruleMACConflict(c *ruleCtx) {
	mac := c.s.SecurityFeatures.MAC
	if mac.Has(MACAppArmor) && mac.Has(MACSELinux) {
		c.errorf("securityFeatures.mac", "choose apparmor or selinux",
			"AppArmor and SELinux cannot both be enabled: the kernel runs one major LSM at a time")
		return
	}
	if len(mac) > 1 {
		c.warnf("securityFeatures.mac", "", "%s is listed more than once", mac[0])
	}
}

func ruleMACDistro(c *ruleCtx) {
	mac := c.s.SecurityFeatures.MAC
	switch {
	case mac.Has(MACSELinux) && (c.s.Base == BaseAlpine || c.s.Base == BaseVoid):
		c.errorf("securityFeatures.mac", "use apparmor", "%s packages no SELinux policy", distroName[c.s.Base])
	case mac.Has(MACSELinux) && c.s.Base == BaseArch:
		c.warnf("securityFeatures.mac", "", "SELinux is not supported by Arch Linux: it comes from the AUR and the community policy lags the packages")
	case mac.Has(MACSELinux) && (c.s.Base == BaseDebian || c.s.Base == BaseUbuntu):
		c.warnf("securityFeatures.mac", "", "%s's SELinux reference policy is less maintained than its AppArmor profiles; expect denials", distroName[c.s.Base])
	case mac.Has(MACAppArmor) && c.s.Base == BaseFedora:
		c.warnf("securityFeatures.mac", "", "Fedora is built around SELinux; AppArmor has few profiles there")
	}
}
