package spec

import (
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// buildableOutputs are the outputs the pipeline makes. A spec asking for
// another is refused before anything is built, rather than built without
// it: a user who asked for an output and got a green check without one
// would find out only when it is missing.
var buildableOutputs = []Output{OutputISO, OutputQCOW2, OutputRaw}

// Buildable reports whether the pipeline can make o today.
func Buildable(o Output) bool { return slices.Contains(buildableOutputs, o) }

// MaxDiskImageBytes is the largest disk image (filesystem.diskSize) the
// disk step makes: 64G. The raw file is sparse, but its compressed
// artifact and the boot test's copies are read end to end.
const MaxDiskImageBytes = int64(64) << 30

// SwapBytes is the size of the disk image's swap partition (the one
// partition mounted as swap, a size or a share of filesystem.diskSize), or
// 0 for none. Validation refuses what this cannot size.
func (s *Spec) SwapBytes() int64 {
	for _, p := range s.Filesystem.Partitions {
		if p.Mount != "swap" {
			continue
		}
		sz, ok := readPartitionSize(p.Size)
		if !ok || sz.rest {
			return 0
		}
		return sz.bytes + int64(sz.percent/100*float64(s.DiskImageBytes()))
	}
	return 0
}

// reservedMounts are the directories no partition of a disk image may be
// mounted on: the root, the boot loader's and the ESP's, and the system's
// own (what the initramfs and early boot need on the root, and the kernel's
// file systems).
var reservedMounts = []string{"/", "/boot", "/efi", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev", "/proc", "/sys", "/run", "/var/run", "/var/lock"}

// ReservedMount reports whether m (absolute) is a mount point a disk
// image's partition may not have: one of reservedMounts or below one (a
// partition at /lib/modules or /etc/systemd/system would hide what early
// boot reads from the root).
func ReservedMount(m string) bool {
	c := path.Clean(m)
	for _, r := range reservedMounts {
		if c == r || (r != "/" && strings.HasPrefix(c, r+"/")) {
			return true
		}
	}
	return false
}

// DiskPartition is a partition of the disk image besides the root and
// the swap, sized.
type DiskPartition struct {
	Mount string
	Bytes int64
	FS    string // ext4 or btrfs (the partition's fs, else the root's)
}

// DiskPartitions are the disk image's partitions besides the root and the
// swap, in the spec's order: their sizes, or shares of filesystem.diskSize.
// Validation refuses what this cannot size.
func (s *Spec) DiskPartitions() []DiskPartition {
	var out []DiskPartition
	for _, p := range s.Filesystem.Partitions {
		if p.Mount == "swap" || p.Mount == "/" {
			continue
		}
		sz, ok := readPartitionSize(p.Size)
		if !ok || sz.rest {
			continue
		}
		fs := string(p.FS)
		if fs == "" {
			fs = string(s.Filesystem.Root)
		}
		out = append(out, DiskPartition{Mount: string(p.Mount), Bytes: sz.bytes + int64(sz.percent/100*float64(s.DiskImageBytes())), FS: fs})
	}
	return out
}

// DiskSizeBytes is filesystem.diskSize in bytes, 0 when it is not set (the
// disk step sizes the disk from the image).
func (s *Spec) DiskSizeBytes() int64 {
	n, _ := sizeBytes(string(s.Filesystem.DiskSize))
	return n
}

var outputNames = map[Output]string{OutputISO: "live ISOs", OutputQCOW2: "qcow2 disk images", OutputRaw: "raw disk images"}

func joinOutputNames() string {
	names := make([]string, len(buildableOutputs))
	for i, o := range buildableOutputs {
		names[i] = outputNames[o]
	}
	return strings.Join(names, " and ")
}

// DiskRootFS are the root file systems disk images are made with.
var DiskRootFS = []FSType{FSExt4, FSBtrfs}

// HasDiskImage reports whether the spec asks for a qcow2 or raw disk
// image, where the filesystem section and the boot loader apply.
func (s *Spec) HasDiskImage() bool {
	return slices.Contains(s.Outputs, OutputQCOW2) || slices.Contains(s.Outputs, OutputRaw)
}

// installerDiskOnlyNote ends the disk-only rule's warnings for a spec
// whose live ISO carries linux-builder-install.
const installerDiskOnlyNote = "only in disk images (outputs: [qcow2] or [raw]): linux-builder-install uses the whole target disk"

// diskOnlyNote ends the disk-only rule's warnings.
const diskOnlyNote = "only in disk images (outputs: [qcow2] or [raw]): the live ISO runs from a read-only squashfs and boots with GRUB on BIOS and UEFI"

// ruleDiskLayout refuses what a disk image would not honour today. The
// disk step (internal/pipeline/disk) lays out one disk: GPT, a BIOS boot
// partition, an EFI system partition with GRUB for BIOS and GRUB or
// systemd-boot for UEFI, an ext4 root of filesystem.diskSize (or the
// image with headroom) less the swap, and the swap partition when one
// partition is mounted as swap. Any other layout the spec asks for would be left out silently: each is an error,
// at its position, until the disk step makes it.
func ruleDiskLayout(c *ruleCtx) {
	if !c.s.HasDiskImage() {
		return
	}
	const why = "disk images are laid out as GPT with an EFI system partition and an ext4 or btrfs root, or installed from the live ISO by linux-builder-install (xfs and f2fs roots, LVM) on Debian and Ubuntu x86-64"
	fs := c.s.Filesystem
	byInstall := c.s.DiskByInstall()
	switch {
	case slices.Contains(DiskRootFS, fs.Root), byInstall:
	case slices.Contains(DiskInstallRootFS, fs.Root) && !installerCapable(c.s):
		c.errorf("filesystem.root", "use root: ext4 or btrfs",
			"filesystem.root %s: a disk image with an %s root is installed from the live ISO by linux-builder-install, which only Debian and Ubuntu x86-64 systems carry", fs.Root, fs.Root)
	case slices.Contains(DiskInstallRootFS, fs.Root):
		// Encrypted: the encryption's own error below says why.
	default:
		c.errorf("filesystem.root", "use root: ext4, btrfs, xfs or f2fs, or outputs: [iso]", "filesystem.root %s is not built in disk images yet: %s", fs.Root, why)
	}
	if fs.Encryption != EncNone && fs.Encryption != "" {
		hint := "remove encryption, or outputs: [iso]"
		if c.s.HasInstaller() {
			hint = "remove encryption, or outputs: [iso] (its linux-builder-install encrypts the root with a passphrase of your own)"
		}
		c.errorf("filesystem.encryption", hint, "filesystem.encryption %s is not built in disk images: a passphrase or key baked into a published image would protect nothing; disk images are unencrypted", fs.Encryption)
	}
	if byInstall && c.s.DiskImageBytes() < MinInstallDiskBytes {
		c.errorf("filesystem.diskSize", "make filesystem.diskSize 2G or more", "a disk image installed by linux-builder-install needs 2G or more (its ESP and /boot take 1.5G); %s is too small", fs.DiskSize)
	}
	if byInstall {
		// The installer lays the disk out (ESP 512M, /boot 1G, the
		// partitions, the swap, the root taking the rest): ruleInstaller
		// says what it does not honour, at its position.
		ruleDiskFits(c)
	} else {
		// Compression and snapshots on a root without them are rulesFS's
		// errors; btrfs makes both.
		ruleDiskPartitions(c)
	}
	if fs.LVM && !byInstall && !installerCapable(c.s) {
		c.errorf("filesystem.lvm", "remove lvm", "filesystem.lvm: a disk image with LVM is installed from the live ISO by linux-builder-install, which only Debian and Ubuntu x86-64 systems carry")
	}
	if fs.RAID != "none" && fs.RAID != "" {
		c.errorf("filesystem.raid", "remove raid", "filesystem.raid %s is not built in disk images yet: disk images are one disk", fs.RAID)
	}
	if n, ok := sizeBytes(string(fs.DiskSize)); ok && n > MaxDiskImageBytes {
		c.errorf("filesystem.diskSize", "make filesystem.diskSize 64G or less", "disk size %s is larger than the %s disk images are made up to", fs.DiskSize, humanBytes(MaxDiskImageBytes))
	}
}

// ruleDiskSwap checks the swap partition of a disk image, the n-th.
func ruleDiskSwap(c *ruleCtx, path string, p Partition, n int) {
	sz, ok := readPartitionSize(p.Size)
	switch {
	case n > 1:
		c.errorf(path, "list one swap partition", "disk images have one swap partition; this is swap partition %d", n)
	case ok && sz.rest:
		c.errorf(path+".size", "give the swap a size, such as 2G", "a swap partition that takes the rest of the disk leaves nothing for the root file system")
	case ok && sz.percent > 0 && c.s.Filesystem.DiskSize == "":
		c.errorf(path+".size", "give the swap a size such as 2G, or set filesystem.diskSize",
			"a swap of %s of the disk needs filesystem.diskSize in disk images (without it the disk is sized from the image)", p.Size)
	}
}

// ruleDiskPartitions checks the partitions a disk image is laid out with:
// ext4 file systems besides the root, of a size (the root takes the
// rest), and one swap.
func ruleDiskPartitions(c *ruleCtx) {
	fs := c.s.Filesystem
	swaps := 0
	for i, p := range fs.Partitions {
		path := indexPath("filesystem.partitions", i)
		if n, ok := readPartitionSize(p.Size); ok && n.percent > 0 && p.Mount != "swap" {
			if b := int64(n.percent / 100 * float64(c.s.DiskSizeBytes())); b > 0 && b < minPartitionBytes {
				c.errorf(path+".size", "make it 16M or more", "partition %s of %s of the disk is %s, smaller than the 16M a disk image's file system needs", p.Mount, p.Size, humanBytes(b))
			}
		}
		switch {
		case p.Mount == "/" && (p.Size == "rest" || p.Size == "100%"):
			// The root takes what the others leave: the disk's layout.
		case p.Mount == "swap":
			swaps++
			ruleDiskSwap(c, path, p, swaps)
		case p.Mount == "/":
			c.errorf(path+".size", "use size: rest, or remove it",
				"a / partition of %s is not built in disk images yet: the root takes what the ESP and the swap leave of filesystem.diskSize", p.Size)
		case ReservedMount(string(p.Mount)):
			c.errorf(path+".mount", "mount it elsewhere, such as /home, /var or /srv",
				"a disk image cannot have a partition at %s: the boot loader's, the ESP's and the system's own directories stay on the root file system", p.Mount)
		case fs.Root == FSBtrfs && (p.Mount == "/home" || p.Mount == "/.snapshots" && fs.Snapshots):
			if !c.s.HasInstaller() { // the installer's rule says the same
				c.errorf(path, "remove the partition: the btrfs root's subvolume holds "+string(p.Mount),
					"partition %s would be mounted over the btrfs root's subvolume %s, which a disk image mounts there", p.Mount, map[MountPoint]string{"/home": "@home", "/.snapshots": "@snapshots"}[p.Mount])
			}
		case p.FS != "" && p.FS != "ext4" && p.FS != "btrfs":
			c.errorf(path+".fs", "use fs: ext4 or btrfs", "partition %s: %s is not built in disk images yet; their partitions are ext4 or btrfs for now", p.Mount, p.FS)
		default:
			sz, ok := readPartitionSize(p.Size)
			switch {
			case ok && sz.rest:
				c.errorf(path+".size", "give it a size, such as 10G; the root takes the rest",
					"partition %s cannot take the rest of the disk in disk images: the root file system does", p.Mount)
			case ok && sz.percent > 0 && fs.DiskSize == "":
				c.errorf(path+".size", "give it a size such as 10G, or set filesystem.diskSize",
					"partition %s of %s of the disk needs filesystem.diskSize in disk images (without it the disk is sized from the image)", p.Mount, p.Size)
			case ok && sz.bytes > 0 && sz.bytes < minPartitionBytes:
				c.errorf(path+".size", "make it 16M or more", "partition %s of %s is smaller than the 16M a disk image's file system needs", p.Mount, p.Size)
			}
		}
	}
	ruleDiskFits(c)
}

// minPartitionBytes is the smallest file system partition of a disk
// image (internal/pipeline/disk's minPartition).
const minPartitionBytes = 16 << 20

// diskOverhead is what a disk image takes besides its partitions: the
// smallest ESP, the BIOS boot partition, the alignment and the backup
// GPT (internal/pipeline/disk), and the smallest root file system.
const diskOverhead = (256+3)<<20 + minPartitionBytes

// installOverhead is what linux-builder-install's layout takes besides
// the listed partitions and the swap: the BIOS boot partition, the ESP
// (512M), /boot (1G), the alignment, and the smallest root file system.
const installOverhead = (1+512+1024+3)<<20 + minPartitionBytes

// ruleDiskFits checks what the disk builder checks of the sizes: the
// partitions besides the root and the swap leave room for the ESP and the
// root, on filesystem.diskSize or, without it, under the 64G cap.
func ruleDiskFits(c *ruleCtx) {
	var fixed int64
	for _, p := range c.s.DiskPartitions() {
		fixed += p.Bytes
	}
	fixed += c.s.SwapBytes()
	overhead, own := int64(diskOverhead), "the ESP (256M)"
	if c.s.DiskByInstall() {
		overhead, own = installOverhead, "linux-builder-install's ESP (512M) and /boot (1G)"
	}
	disk, what := c.s.DiskSizeBytes(), "the "+string(c.s.Filesystem.DiskSize)+" disk (filesystem.diskSize)"
	switch {
	case disk == 0 && c.s.DiskByInstall():
		disk, what = c.s.DiskImageBytes(), "the "+humanBytes(c.s.DiskImageBytes())+" disk an installed disk image gets without filesystem.diskSize"
	case disk == 0:
		disk, what = MaxDiskImageBytes, "the "+humanBytes(MaxDiskImageBytes)+" disk images are made up to"
	}
	if fixed > 0 && fixed+overhead > disk {
		c.errorf("filesystem.partitions", "make the partitions smaller, or filesystem.diskSize larger",
			"the partitions besides the root take %s, leaving no room on %s for %s and the root file system", humanBytes(fixed), what, own)
	}
}

// filesystemFields are the filesystem section's fields, in source order.
var filesystemFields = []string{"root", "diskSize", "encryption", "compression", "snapshots", "partitions", "lvm", "raid"}

// ruleDiskOnly says which fields have no effect on the outputs asked for:
// the live ISO runs from a read-only squashfs image in RAM and boots with
// GRUB on BIOS and UEFI, so the disk layout, the boot loader and the
// firmware apply only to disk images and installs.
func ruleDiskOnly(c *ruleCtx) {
	if c.s.HasDiskImage() {
		return
	}
	where := diskOnlyNote
	installer := c.s.HasInstaller()
	var set []string
	for _, f := range filesystemFields {
		if installer && f != "diskSize" {
			// linux-builder-install honours it, or ruleInstaller says
			// where it does not.
			continue
		}
		if c.set("filesystem." + f) {
			set = append(set, "filesystem."+f)
		}
	}
	if installer {
		where = installerDiskOnlyNote
	}
	if len(set) == 1 {
		c.warnf("filesystem", "", "%s takes effect %s", set[0], where)
	} else if len(set) > 1 {
		c.warnf("filesystem", "", "%s and %s take effect %s", strings.Join(set[:len(set)-1], ", "), set[len(set)-1], where)
	}
	cu := c.s.Customization
	if c.set("customization.bootloader") && !installer { // ruleInstaller says what installs boot with
		c.warnf("customization.bootloader", "", "bootloader %s takes effect %s", cu.Bootloader, where)
	}
	if c.set("customization.firmware") && !installer {
		c.warnf("customization.firmware", "", "firmware %s takes effect %s", cu.Firmware, where)
	}
}

// ruleFirmware checks the boot loader against the firmware: systemd-boot
// is a UEFI program, and not signed for Secure Boot; the live ISO boots
// with GRUB whatever the spec says. The boot loader applies to disk images
// and to the systems linux-builder-install installs.
func ruleFirmware(c *ruleCtx) {
	cu := c.s.Customization
	if cu.Bootloader != BootSystemdBoot {
		return
	}
	if cu.Firmware == FirmwareBIOS {
		c.errorf("customization.bootloader", "use bootloader: grub, or firmware: uefi",
			"systemd-boot is a UEFI boot loader and cannot boot with legacy BIOS (customization.firmware: bios)")
		return
	}
	var what string
	switch disk, install := c.s.HasDiskImage(), c.s.InstallsSystemdBoot(); {
	case disk && install:
		what = "the disk image and installed systems"
	case disk:
		what = "the disk image"
	case install:
		what = "installed systems (linux-builder-install)"
	default:
		return // ruleDiskOnly says the boot loader does not apply
	}
	if cu.Firmware == FirmwareBoth {
		c.warnf("customization.bootloader", "set customization.firmware: uefi to boot with systemd-boot alone",
			"systemd-boot boots UEFI machines only; with firmware: both, BIOS machines boot %s with GRUB", what)
	}
	if c.s.SignedBootChain() {
		c.warnf("customization.bootloader", "use bootloader: grub to boot with Secure Boot on",
			"systemd-boot is not signed by %s: UEFI machines boot %s only with Secure Boot off (with GRUB, with it on)", distroName[c.s.Base], what)
	}
	if slices.Contains(c.s.Outputs, OutputISO) {
		c.warnf("customization.bootloader", "", "the live ISO boots with GRUB on BIOS and UEFI; systemd-boot is the UEFI boot loader of %s", what)
	}
}

// maxSize is the largest size a spec may give, 1024T (1 PiB): larger than
// any disk, small enough that sums of 32 partitions cannot overflow.
const maxSize = int64(1) << 50

// sizeBytes reads an absolute size (512M, 1.5T, 20GiB) in bytes; units are
// binary, as sfdisk and systemd-repart read them. It fails on sizes over
// maxSize.
func sizeBytes(s string) (int64, bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i")
	if s == "" {
		return 0, false
	}
	shift := map[byte]uint{'K': 10, 'M': 20, 'G': 30, 'T': 40}[s[len(s)-1]]
	if shift == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*float64(int64(1)<<shift) > float64(maxSize) {
		return 0, false
	}
	return int64(f * float64(int64(1)<<shift)), true
}

// humanBytes formats n in the largest binary unit that keeps it readable.
func humanBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n >= int64(1)<<u.shift {
			v := float64(n) / float64(int64(1)<<u.shift)
			return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// partitionSize is one partition's size: a share of the rest, a
// percentage or bytes.
type partitionSize struct {
	rest    bool
	percent float64
	bytes   int64
}

func readPartitionSize(s Size) (partitionSize, bool) {
	switch {
	case s == "rest" || s == "100%":
		return partitionSize{rest: true}, true
	case strings.HasSuffix(string(s), "%"):
		p, err := strconv.Atoi(strings.TrimSuffix(string(s), "%"))
		return partitionSize{percent: float64(p)}, err == nil
	default:
		b, ok := sizeBytes(string(s))
		return partitionSize{bytes: b}, ok
	}
}

// swapOverDisk reports (at path) a swap partition larger than the disk.
func swapOverDisk(c *ruleCtx, path string, mount MountPoint, sz partitionSize, disk int64) bool {
	if mount != "swap" || sz.rest {
		return false
	}
	need := sz.bytes + int64(sz.percent/100*float64(disk))
	if need <= disk {
		return false
	}
	c.errorf(path, "make the swap smaller, or filesystem.diskSize larger",
		"a swap of %s is larger than the %s disk (filesystem.diskSize)", humanBytes(need), humanBytes(disk))
	return true
}

// rulePartitionsFit checks that the partitions fit on the disk and leave
// room for the root file system: percentages add up to at most 100, at
// most one partition takes the rest (rulePartitions), the root is not
// squeezed out, and with a diskSize, nothing (a swap in particular) is
// larger than the disk.
func rulePartitionsFit(c *ruleCtx) {
	fs := c.s.Filesystem
	disk, hasDisk := sizeBytes(string(fs.DiskSize))
	if fs.DiskSize != "" && (!hasDisk || disk == 0) {
		c.errorf("filesystem.diskSize", "", "disk size %s is not between 1K and 1024T", fs.DiskSize)
		hasDisk = false
	}
	var pct float64
	var abs int64
	rest, root := -1, false
	overReported := false
	for i, p := range fs.Partitions {
		path := indexPath("filesystem.partitions", i) + ".size"
		sz, ok := readPartitionSize(p.Size)
		if !ok {
			// The decoder checked the form; only the magnitude is left.
			c.errorf(path, "", "partition %s has size %s, larger than any disk (at most 1024T)", p.Mount, p.Size)
			overReported = true
			continue
		}
		root = root || p.Mount == "/"
		switch {
		case sz.rest:
			if rest < 0 {
				rest = i
			}
		case sz.percent == 0 && sz.bytes == 0:
			c.errorf(path, "", "partition %s has size %s", p.Mount, p.Size)
		case sz.percent > 0:
			pct += sz.percent
			if pct > 100 && !overReported {
				c.errorf(path, "lower the percentages", "the partitions' percentages add up to %s%% of the disk, over 100%%", strconv.FormatFloat(pct, 'f', -1, 64))
				overReported = true
			}
		default:
			abs += sz.bytes
		}
		if hasDisk && swapOverDisk(c, path, p.Mount, sz, disk) {
			overReported = true
		}
	}
	if len(fs.Partitions) == 0 {
		return
	}
	// The root file system takes what the listed partitions leave when
	// it is not listed itself.
	needsRoom := rest >= 0 || !root
	switch {
	case overReported:
	case pct == 100 && (needsRoom || abs > 0):
		c.errorf("filesystem.partitions", "lower the percentages so the other partitions and the root file system have room",
			"the partitions' percentages take the whole disk, leaving nothing for %s", leftFor(fs, rest, root, abs))
	case rest >= 0 && fs.Partitions[rest].Mount != "/" && !root:
		c.errorf(indexPath("filesystem.partitions", rest)+".size", "list {mount: /, size: rest} and give "+string(fs.Partitions[rest].Mount)+" a size",
			"partition %s takes the rest of the disk, leaving nothing for the root file system (no / partition is listed)", fs.Partitions[rest].Mount)
	case hasDisk:
		need := abs + int64(pct/100*float64(disk))
		if need > disk || (need == disk && needsRoom) {
			c.errorf("filesystem.diskSize", "make filesystem.diskSize larger, or the partitions smaller",
				"the partitions take %s of the %s disk, leaving nothing for %s", humanBytes(need), humanBytes(disk), leftFor(fs, rest, root, 0))
		}
	}
}

func leftFor(fs Filesystem, rest int, root bool, abs int64) string {
	switch {
	case rest >= 0:
		return "partition " + string(fs.Partitions[rest].Mount) + " (size: rest)"
	case !root:
		return "the root file system (no / partition is listed)"
	case abs > 0:
		return "the partitions with absolute sizes"
	}
	return "the other partitions"
}
