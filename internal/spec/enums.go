package spec

// Base is the distribution the image is built from.
type Base string

// Bases.
const (
	BaseArch     Base = "arch"
	BaseDebian   Base = "debian"
	BaseUbuntu   Base = "ubuntu"
	BaseAlpine   Base = "alpine"
	BaseFedora   Base = "fedora"
	BaseOpenSUSE Base = "opensuse"
	BaseVoid     Base = "void"
	BaseGentoo   Base = "gentoo"
)

// Bases lists every supported distribution, in documentation order.
var Bases = enum("Distribution the image is built from.",
	BaseArch, BaseDebian, BaseUbuntu, BaseAlpine, BaseFedora, BaseOpenSUSE, BaseVoid, BaseGentoo)

// Architecture is the CPU architecture of the image.
type Architecture string

// Architectures.
const (
	ArchX8664   Architecture = "x86_64"
	ArchAarch64 Architecture = "aarch64"
)

var _ = enum("CPU architecture of the image. Default x86_64.", ArchX8664, ArchAarch64)

// Output is something a build makes.
type Output string

// Outputs.
const (
	OutputISO   Output = "iso"
	OutputQCOW2 Output = "qcow2"
	OutputRaw   Output = "raw"
)

var _ = enum("What the build makes: iso, qcow2 or raw.", OutputISO, OutputQCOW2, OutputRaw)

// InitSystem is the init (PID 1) of the image.
type InitSystem string

// Init systems.
const (
	InitSystemd InitSystem = "systemd"
	InitOpenRC  InitSystem = "openrc"
	InitRunit   InitSystem = "runit"
	InitS6      InitSystem = "s6"
)

var _ = enum("Init system (PID 1). Default: the distribution's own (openrc on alpine and gentoo, runit on void, systemd elsewhere).",
	InitSystemd, InitOpenRC, InitRunit, InitS6)

// FSType is a file system type.
type FSType string

// File systems.
const (
	FSExt4     FSType = "ext4"
	FSBtrfs    FSType = "btrfs"
	FSXFS      FSType = "xfs"
	FSZFS      FSType = "zfs"
	FSF2FS     FSType = "f2fs"
	FSBcachefs FSType = "bcachefs"
)

var _ = enum("Root file system. Default ext4.", FSExt4, FSBtrfs, FSXFS, FSZFS, FSF2FS, FSBcachefs)

// PartitionFS is the file system of an extra partition.
type PartitionFS string

var _ = enum("File system of a partition (vfat for an EFI system partition).",
	PartitionFS("ext4"), "btrfs", "xfs", "zfs", "f2fs", "bcachefs", "vfat", "swap")

// Encryption is the disk encryption scheme.
type Encryption string

// Encryption schemes.
const (
	EncNone  Encryption = "none"
	EncLUKS1 Encryption = "luks1"
	EncLUKS2 Encryption = "luks2"
)

var _ = enum("Disk encryption of the root file system. Default none.", EncNone, EncLUKS1, EncLUKS2)

// Compression is transparent file system compression.
type Compression string

var _ = enum("Transparent compression: zstd, lzo or zlib on btrfs; zstd, lz4 or gzip on zfs; none elsewhere. Default none.",
	Compression("none"), "zstd", "lzo", "zlib", "lz4", "gzip")

// RAIDLevel is a software RAID level.
type RAIDLevel string

var _ = enum("Software RAID level for the root device. Default none.",
	RAIDLevel("none"), "raid0", "raid1", "raid5", "raid6", "raid10")

// DisplayServer is the graphics stack.
type DisplayServer string

// Display servers.
const (
	DisplayNone    DisplayServer = "none"
	DisplayXorg    DisplayServer = "xorg"
	DisplayWayland DisplayServer = "wayland"
)

var _ = enum("Display server. Default none (a console system).", DisplayNone, DisplayXorg, DisplayWayland)

// Compositor is a Wayland compositor, X11 window manager or desktop
// environment.
type Compositor string

var _ = enum("Wayland compositor, X11 window manager or desktop environment.",
	Compositor("hyprland"), "sway", "river", "wayfire", "labwc", "niri", "cosmic",
	"gnome", "kde", "xfce", "cinnamon", "mate", "lxqt", "budgie", "qtile",
	"i3", "bspwm", "openbox", "awesome", "dwm", "xmonad", "herbstluftwm", "fluxbox", "icewm")

// Bar is a status bar.
type Bar string

var _ = enum("Status bar.", Bar("none"), "waybar", "polybar", "i3status", "i3blocks", "lemonbar", "eww", "yambar", "tint2")

// Launcher is an application launcher.
type Launcher string

var _ = enum("Application launcher.", Launcher("none"), "rofi", "wofi", "fuzzel", "tofi", "bemenu", "dmenu", "ulauncher", "albert")

// Terminal is a terminal emulator.
type Terminal string

var _ = enum("Terminal emulator.", Terminal("alacritty"), "kitty", "foot", "wezterm", "ghostty", "xterm", "urxvt", "st",
	"gnome-terminal", "konsole", "xfce4-terminal", "terminator")

// Notifier is a notification daemon.
type Notifier string

var _ = enum("Notification daemon.", Notifier("none"), "dunst", "mako", "swaync", "fnott")

// Lockscreen is a screen locker.
type Lockscreen string

var _ = enum("Screen locker.", Lockscreen("none"), "swaylock", "hyprlock", "gtklock", "i3lock", "xsecurelock", "slock", "light-locker")

// MACName is a mandatory access control framework.
type MACName string

// MAC frameworks.
const (
	MACNone     MACName = "none"
	MACAppArmor MACName = "apparmor"
	MACSELinux  MACName = "selinux"
)

var _ = enum("Mandatory access control framework.", MACNone, MACAppArmor, MACSELinux)

// FirewallBackend is the firewall implementation.
type FirewallBackend string

// Firewall backends.
const (
	FirewallNftables FirewallBackend = "nftables"
	FirewallIptables FirewallBackend = "iptables"
	FirewallUFW      FirewallBackend = "ufw"
)

var _ = enum("Firewall implementation. Default nftables.", FirewallNftables, FirewallIptables, FirewallUFW)

// Policy is a firewall default policy for incoming traffic.
type Policy string

// Policies.
const (
	PolicyDrop   Policy = "drop"
	PolicyReject Policy = "reject"
	PolicyAccept Policy = "accept"
)

var _ = enum("Default policy for incoming traffic. Default drop.", PolicyDrop, PolicyReject, PolicyAccept)

// RootLogin is sshd's PermitRootLogin.
type RootLogin string

// Root login modes.
const (
	RootLoginNo             RootLogin = "no"
	RootLoginProhibitPasswd RootLogin = "prohibit-password"
	RootLoginYes            RootLogin = "yes"
)

var _ = enum("sshd PermitRootLogin. Default no.", RootLoginNo, RootLoginProhibitPasswd, RootLoginYes)

// HardeningLevel is how far kernel sysctls are hardened.
type HardeningLevel string

// Hardening levels. true means basic, false means none.
const (
	HardeningNone   HardeningLevel = "none"
	HardeningBasic  HardeningLevel = "basic"
	HardeningStrict HardeningLevel = "strict"
)

var _ = enum("Kernel hardening level.", HardeningNone, HardeningBasic, HardeningStrict)

// Database is a database service.
type Database string

var _ = enum("Database service to install and enable.",
	Database("postgresql"), "mariadb", "mysql", "redis", "valkey", "mongodb", "sqlite", "influxdb")

// Monitor is a monitoring service.
type Monitor string

var _ = enum("Monitoring service to install and enable.",
	Monitor("prometheus"), "node-exporter", "grafana", "netdata", "zabbix-agent", "telegraf", "loki", "promtail", "cockpit")

// AIService is an AI/ML service.
type AIService string

var _ = enum("AI service to install and enable.",
	AIService("ollama"), "llama-cpp", "localai", "jupyterlab", "open-webui")

// BackupTool is a backup program.
type BackupTool string

var _ = enum("Backup program.", BackupTool("none"), "restic", "borg", "rsync", "snapper", "timeshift", "btrbk", "kopia")

// Shell is the login shell of the default user.
type Shell string

// Shells.
const (
	ShellBash Shell = "bash"
	ShellZsh  Shell = "zsh"
	ShellFish Shell = "fish"
)

var _ = enum("Login shell of the default user. Default bash.", ShellBash, ShellZsh, ShellFish)

// ShellFramework is a shell plugin framework.
type ShellFramework string

var _ = enum("Shell plugin framework: oh-my-zsh, prezto, zinit or antidote for zsh; oh-my-bash or bash-it for bash; oh-my-fish or fisher for fish. Default none.",
	ShellFramework("none"), "oh-my-zsh", "prezto", "zinit", "antidote", "oh-my-bash", "bash-it", "oh-my-fish", "fisher")

// Bootloader is the boot loader installed on the target system.
type Bootloader string

// Boot loaders.
const (
	BootGRUB        Bootloader = "grub"
	BootSystemdBoot Bootloader = "systemd-boot"
)

var _ = enum("Boot loader of disk images and installs: grub, or systemd-boot (UEFI only; BIOS boots use GRUB). Default grub. The live ISO always boots with GRUB.", BootGRUB, BootSystemdBoot)

// Firmware is the firmware a disk image or install boots with.
type Firmware string

// Firmwares.
const (
	FirmwareBoth Firmware = "both"
	FirmwareUEFI Firmware = "uefi"
	FirmwareBIOS Firmware = "bios"
)

var _ = enum("Firmware that disk images and installs boot with: uefi, bios (legacy BIOS, GRUB only) or both. Default both. The live ISO always boots on both.", FirmwareBoth, FirmwareUEFI, FirmwareBIOS)

// HasBIOS reports whether f includes legacy BIOS boot.
func (f Firmware) HasBIOS() bool { return f == FirmwareBIOS || f == FirmwareBoth }

// HasUEFI reports whether f includes UEFI boot.
func (f Firmware) HasUEFI() bool { return f == FirmwareUEFI || f == FirmwareBoth }

// CPUGovernor is a cpufreq governor.
type CPUGovernor string

var _ = enum("cpufreq governor.", CPUGovernor("performance"), "powersave", "schedutil", "ondemand", "conservative")

// IOScheduler is a block I/O scheduler.
type IOScheduler string

var _ = enum("Block I/O scheduler.", IOScheduler("none"), "mq-deadline", "bfq", "kyber")

// PackageCategory is a group of the categorized package form.
type PackageCategory string

// PackageCategories lists the categories of the categorized package form.
var PackageCategories = enum("Package category.",
	PackageCategory("base"), "development", "ai_ml", "security", "networking", "databases", "servers", "multimedia", "utils")

// Named string types held to a character rule.
type (
	// Title is the human name of a build.
	Title string
	// Name is a package name: letters, digits and .+-_@: and at most one
	// "prefix/" (see reName).
	Name string
	// Release is a distribution release (bookworm, 24.04, edge).
	Release string
	// KernelVersion is lts, latest or a dotted version.
	KernelVersion string
	// KernelFlag is a kernel config assignment, CONFIG_X=y.
	KernelFlag string
	// KernelModule is a kernel module name.
	KernelModule string
	// KernelParam is a kernel command-line parameter.
	KernelParam string
	// MountPoint is an absolute mount point or "swap".
	MountPoint string
	// Size is a partition size: 512M, 20G, 100%, rest.
	Size string
	// DiskSize is an absolute size: 512M, 20G, 1.5T.
	DiskSize string
	// Schedule is hourly|daily|weekly|monthly|yearly or a cron expression.
	Schedule string
	// Destination is a backup destination path or URL.
	Destination string
	// RepoURL is an https or git@ repository URL.
	RepoURL string
	// GitRef is a branch, tag or commit.
	GitRef string
	// HomePath is a path relative to the user's home directory.
	HomePath string
	// Word is a plain identifier such as a theme name.
	Word string
	// SysctlKey is a sysctl key.
	SysctlKey string
	// SysctlValue is a sysctl value.
	SysctlValue string
	// Unit is a service name to enable.
	Unit string
	// ScriptName is a postInstall script's file name.
	ScriptName string
)

func init() {
	pattern[Title]("Human name of the build, used in release titles.",
		"a title (letters, digits, spaces and . _ -, starting with a letter or digit)", 64, reTitle)
	pattern[Name]("Package name: letters, digits and . + - _ @ :, starting with a letter or digit, with at most one lower-case category/ (Gentoo), repository/ (Arch) or package/release (Debian, Ubuntu) slash. Never a URL or a path.",
		"a package name (letters, digits and . + - _ @ :, starting with a letter or digit, with at most one category/ or repository/ prefix; not a URL or a path)", 128, reName)
	hinted[Name]("name the package from the distribution's signed repositories; a URL or a file path would install unsigned code")
	pattern[Release]("Distribution release, e.g. bookworm, 24.04, 3.20, edge, 40. Default: the distribution's current stable release.",
		"a release name (lower-case letters, digits, . and -)", 32, reRelease)
	pattern[KernelVersion]("Kernel: lts, latest, or a version such as 6.6 or 6.6.30. Default lts.",
		"lts, latest or a version such as 6.6 or 6.6.30", 32, reKernelVersion)
	pattern[KernelFlag]("Kernel config assignment, e.g. CONFIG_BPF_JIT=y.",
		"a kernel config assignment such as CONFIG_BPF_JIT=y", 256, reKernelFlag)
	pattern[KernelModule]("Kernel module name.", "a kernel module name (lower-case letters, digits, _ and -)", 64, reModule)
	pattern[KernelParam]("Kernel command-line parameter, key or key=value.", "a kernel parameter (key or key=value of letters, digits and . _ , : = / + @ -)", 256, reKernelParam)
	pattern[MountPoint]("Absolute mount point, or swap.", "an absolute mount point (no . or .. in it) or swap", 256, reMount)
	pattern[Size]("Size: a number with K, M, G or T (512M, 20G, 1.5T), a percentage (50%), or rest.",
		"a size such as 512M, 20G, 50% or rest", 16, reSize)
	pattern[DiskSize]("Size: a number with K, M, G or T (20G, 1.5T); binary units (G is GiB).",
		"a size such as 20G or 1.5T", 16, reDiskSize)
	pattern[Schedule]("hourly, daily, weekly, monthly, yearly, or a five-field cron expression.",
		"hourly, daily, weekly, monthly, yearly or a five-field cron expression", 64, reSchedule)
	pattern[Destination]("Backup destination: a path (/mnt/backup) or a tool URL (sftp:user@host:/srv/backup, s3:host/bucket, rclone:remote:path).",
		"a destination path or URL without spaces or shell characters, in which no name after / : or @ starts with - (ssh would take it as an option)", 512, reDestination)
	pattern[RepoURL]("Git repository URL (https://host/owner/repo or git@host:owner/repo).",
		"an https:// or git@ repository URL", 512, reRepoURL)
	pattern[GitRef]("Git branch, tag or commit.", "a git ref (letters, digits, . _ / -)", 128, reGitRef)
	pattern[HomePath]("Path relative to the home directory, with no . or .. segment.",
		"a relative path inside the home directory (no leading /, no . or .. segment)", 256, reHomePath)
	pattern[Word]("Identifier: letters, digits, . _ -.", "an identifier (letters, digits, . _ -)", 64, reWord)
	pattern[SysctlKey]("sysctl key, e.g. vm.dirty_ratio.", "a sysctl key such as vm.dirty_ratio", 128, reSysctlKey)
	pattern[SysctlValue]("sysctl value.", "a sysctl value (letters, digits, _ . : / - and single spaces)", 128, reSysctlValue)
	pattern[Unit]("Service to enable: nginx, docker.service, getty@tty1.", "a service name (letters, digits, _ . @ -)", 128, reUnit)
	pattern[ScriptName]("File name of the script.", "a file name (letters, digits, _ . -)", 64, reScriptName)
}
