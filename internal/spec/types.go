package spec

// Spec is a linux-build.yaml document: the Linux system a user wants built.
// Decode produces it with defaults filled in (see Normalize); the zero value
// of an optional section means "not asked for".
type Spec struct {
	Name             Title            `json:"name,omitempty"`
	Base             Base             `json:"base" jsonschema:"required"`
	Release          Release          `json:"release,omitempty"`
	Architecture     Architecture     `json:"architecture,omitempty"`
	Outputs          []Output         `json:"outputs,omitempty" jsonschema:"minItems=1,maxItems=3,uniqueItems=true" jsonschema_description:"What the build makes: iso (a live ISO with BIOS and UEFI boot), qcow2 (a QEMU disk image), raw (a raw disk image, zstd-compressed). Default [iso]. The filesystem section and customization.bootloader/firmware take effect only in disk images and installs."`
	Kernel           Kernel           `json:"kernel,omitzero" jsonschema_description:"Kernel selection."`
	Init             InitSystem       `json:"init,omitempty"`
	Filesystem       Filesystem       `json:"filesystem,omitzero" jsonschema_description:"Disk layout of systems installed from the image."`
	Display          Display          `json:"display,omitzero" jsonschema_description:"Graphical environment."`
	Packages         Packages         `json:"packages,omitzero"`
	SecurityFeatures SecurityFeatures `json:"securityFeatures,omitzero" jsonschema_description:"Security hardening."`
	Services         Services         `json:"services,omitzero" jsonschema_description:"Services installed and enabled at boot."`
	Backup           Backup           `json:"backup,omitzero" jsonschema_description:"Scheduled backups."`
	Customization    Customization    `json:"customization,omitzero" jsonschema_description:"Shell, boot loader and dotfiles of the default user."`
	Users            []User           `json:"users,omitempty" jsonschema:"maxItems=32" jsonschema_description:"Login accounts. Without any, the image has one console user (live) with no usable password that logs in automatically on the console and cannot log in over SSH."`
	PostInstall      PostInstall      `json:"postInstall,omitzero" jsonschema_description:"Steps run after everything else is installed."`
	Defaults         Defaults         `json:"defaults,omitzero" jsonschema_description:"System defaults: memory, storage, kernel command line, privacy."`
	// Schedule asks Linux Builder to rebuild the default branch's last
	// successful build when it comes due and the distribution has updated
	// some of its packages. Off when empty.
	Schedule Schedule `json:"schedule,omitempty" jsonschema_description:"Scheduled rebuilds (Debian and Ubuntu): when this comes due (hourly, daily, weekly, monthly, yearly or a five-field cron expression, UTC), the default branch's last successful build is rebuilt if the distribution's updates or security updates have a newer version of any of its packages. Off by default."`
}

// Kernel selects the kernel.
type Kernel struct {
	Version     KernelVersion  `json:"version,omitempty"`
	CustomFlags []KernelFlag   `json:"customFlags,omitempty" jsonschema:"maxItems=256" jsonschema_description:"Kernel config assignments. Reserved: kernels are not compiled from source yet, so setting any is an error."`
	Modules     []KernelModule `json:"modules,omitempty" jsonschema:"maxItems=256" jsonschema_description:"Kernel modules loaded at boot (modules-load.d)."`
}

// Filesystem is the disk layout for installed systems.
type Filesystem struct {
	Root        FSType      `json:"root,omitempty"`
	DiskSize    DiskSize    `json:"diskSize,omitempty" jsonschema_description:"Size of the disk in disk images (qcow2, raw), such as 20G. Partition percentages are of this size. Installs use the whole target disk."`
	Encryption  Encryption  `json:"encryption,omitempty"`
	Compression Compression `json:"compression,omitempty"`
	Snapshots   bool        `json:"snapshots,omitempty" jsonschema_description:"Periodic root snapshots (btrfs or zfs, or lvm thin volumes)."`
	Partitions  []Partition `json:"partitions,omitempty" jsonschema:"maxItems=32" jsonschema_description:"Partitions besides the root file system. When none is given the layout is an EFI system partition plus root."`
	LVM         bool        `json:"lvm,omitempty" jsonschema_description:"Put root on an LVM logical volume."`
	RAID        RAIDLevel   `json:"raid,omitempty"`
}

// Partition is one partition of the installed system's disk.
type Partition struct {
	Mount MountPoint  `json:"mount" jsonschema:"required"`
	Size  Size        `json:"size" jsonschema:"required"`
	FS    PartitionFS `json:"fs,omitempty" jsonschema_description:"File system; defaults to vfat for /boot/efi and /efi, swap for swap, otherwise the root file system."`
}

// Display is the graphical environment.
type Display struct {
	Server        DisplayServer `json:"server,omitempty"`
	Compositor    Compositor    `json:"compositor,omitempty"`
	Bar           Bar           `json:"bar,omitempty"`
	Launcher      Launcher      `json:"launcher,omitempty"`
	Terminal      Terminal      `json:"terminal,omitempty"`
	Theme         Word          `json:"theme,omitempty" jsonschema_description:"GTK/Qt theme name."`
	Notifications Notifier      `json:"notifications,omitempty"`
	Lockscreen    Lockscreen    `json:"lockscreen,omitempty"`
}

// SecurityFeatures is the hardening of the system.
type SecurityFeatures struct {
	MAC             MAC             `json:"mac,omitzero"`
	Firewall        Firewall        `json:"firewall,omitzero" jsonschema_description:"Host firewall for incoming traffic."`
	SSH             SSH             `json:"ssh,omitzero" jsonschema_description:"OpenSSH server."`
	Updates         Updates         `json:"updates,omitzero" jsonschema_description:"Package updates."`
	KernelHardening KernelHardening `json:"kernelHardening,omitzero"`
}

// Firewall configures the host firewall. A firewall section that is present
// is enabled unless enabled: false.
type Firewall struct {
	Enabled       *bool           `json:"enabled,omitempty" jsonschema_description:"Default true when the firewall section is present."`
	Backend       FirewallBackend `json:"backend,omitempty"`
	DefaultPolicy Policy          `json:"defaultPolicy,omitempty"`
	AllowedPorts  []Port          `json:"allowedPorts,omitempty" jsonschema:"maxItems=128"`
}

// IsEnabled reports whether the firewall is on.
func (f Firewall) IsEnabled() bool { return f.Enabled != nil && *f.Enabled }

// SSH configures the OpenSSH server.
type SSH struct {
	Enable       bool      `json:"enable,omitempty"`
	Port         int       `json:"port,omitempty" jsonschema:"minimum=1,maximum=65535" jsonschema_description:"Listening port. Default 22."`
	PasswordAuth bool      `json:"passwordAuth,omitempty" jsonschema_description:"Allow password logins. Default false (keys only)."`
	RootLogin    RootLogin `json:"rootLogin,omitempty"`
	Fail2ban     bool      `json:"fail2ban,omitempty" jsonschema_description:"Ban addresses after repeated failed logins."`
}

// Updates configures package updates.
type Updates struct {
	Automatic bool `json:"automatic,omitempty" jsonschema_description:"Install security updates automatically."`
}

// Services lists services to install and enable.
type Services struct {
	Databases  []Database  `json:"databases,omitempty" jsonschema:"uniqueItems=true"`
	Monitoring []Monitor   `json:"monitoring,omitempty" jsonschema:"uniqueItems=true"`
	AI         []AIService `json:"ai,omitempty" jsonschema:"uniqueItems=true"`
}

// Backup configures scheduled backups.
type Backup struct {
	Tool         BackupTool    `json:"tool,omitempty"`
	Schedule     Schedule      `json:"schedule,omitempty"`
	Retention    Retention     `json:"retention,omitzero" jsonschema_description:"How many snapshots of each period to keep."`
	Destinations []Destination `json:"destinations,omitempty" jsonschema:"maxItems=16"`
}

// Retention is how many backups of each period to keep; 0 means the tool's
// default.
type Retention struct {
	Last    int `json:"last,omitempty" jsonschema:"minimum=0,maximum=10000"`
	Hourly  int `json:"hourly,omitempty" jsonschema:"minimum=0,maximum=10000"`
	Daily   int `json:"daily,omitempty" jsonschema:"minimum=0,maximum=10000"`
	Weekly  int `json:"weekly,omitempty" jsonschema:"minimum=0,maximum=10000"`
	Monthly int `json:"monthly,omitempty" jsonschema:"minimum=0,maximum=10000"`
	Yearly  int `json:"yearly,omitempty" jsonschema:"minimum=0,maximum=10000"`
}

// Customization is the default user's environment, the boot loader and
// the firmware the installed system boots with.
type Customization struct {
	Shell          Shell          `json:"shell,omitempty"`
	ShellFramework ShellFramework `json:"shellFramework,omitempty"`
	ShellTheme     Word           `json:"shellTheme,omitempty" jsonschema_description:"Prompt theme of the shell framework (e.g. agnoster)."`
	Starship       bool           `json:"starship,omitempty" jsonschema_description:"Use the starship prompt."`
	Bootloader     Bootloader     `json:"bootloader,omitempty"`
	Firmware       Firmware       `json:"firmware,omitempty"`
	Dotfiles       Dotfiles       `json:"dotfiles,omitzero"`
}

// PostInstall are steps run after every package is installed.
type PostInstall struct {
	Scripts      []Script     `json:"scripts,omitempty" jsonschema:"maxItems=64" jsonschema_description:"Scripts copied into the image as files and run in order in their own layer."`
	SystemTuning SystemTuning `json:"systemTuning,omitzero" jsonschema_description:"Performance tuning."`
	Services     []Unit       `json:"services,omitempty" jsonschema:"maxItems=128" jsonschema_description:"Services to enable at boot."`
}

// SystemTuning is performance tuning.
type SystemTuning struct {
	CPUGovernor CPUGovernor               `json:"cpuGovernor,omitempty"`
	IOScheduler IOScheduler               `json:"ioScheduler,omitempty"`
	Zram        bool                      `json:"zram,omitempty" jsonschema_description:"Compressed swap in RAM."`
	Sysctl      map[SysctlKey]SysctlValue `json:"sysctl,omitempty" jsonschema:"maxProperties=128" jsonschema_description:"Extra sysctl settings."`
}

// Defaults are system-wide defaults.
type Defaults struct {
	Swappiness       *int          `json:"swappiness,omitempty" jsonschema:"minimum=0,maximum=200" jsonschema_description:"vm.swappiness. Default: the kernel's (60)."`
	Trim             bool          `json:"trim,omitempty" jsonschema_description:"Weekly fstrim of SSDs."`
	KernelParams     []KernelParam `json:"kernelParams,omitempty" jsonschema:"maxItems=64" jsonschema_description:"Extra kernel command-line parameters."`
	DNSOverHTTPS     bool          `json:"dnsOverHttps,omitempty" jsonschema_description:"Resolve DNS over an encrypted transport."`
	MACRandomization bool          `json:"macRandomization,omitempty" jsonschema_description:"Randomise Wi-Fi and Ethernet MAC addresses."`
	Documentation    bool          `json:"documentation,omitempty" jsonschema_description:"Install documentation, man pages and translations. Left out by default: installs are faster and the image smaller (copyright files are kept)."`
}
