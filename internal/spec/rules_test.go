package spec

import (
	"strings"
	"testing"
)

// want is one expected rule finding: severity and path, plus a fragment of
// the message.
type want struct {
	sev  Severity
	path string
	text string
}

// ruleCases has, for every rule, cases that must fire and cases that must
// stay quiet. TestRuleTableCoversEveryRule keeps it complete.
var ruleCases = []struct {
	name string // "<rule>: description"
	yaml string
	want []want // every rule diagnostic the spec must produce; none → quiet
}{
	{"release-known: known release is quiet", "base: debian\nrelease: trixie", nil},
	{"release-known: unknown release warns", "base: debian\nrelease: hamm", []want{{SeverityWarning, "release", "not one this builder is tested with"}}},

	{"schedule: weekly is quiet", "base: debian\nschedule: weekly", nil},
	{"schedule: cron is quiet", "base: ubuntu\nschedule: \"30 4 * * 1\"", nil},
	{"schedule: bad cron", "base: debian\nschedule: \"61 * * * *\"", []want{{SeverityError, "schedule", "cron minute"}}},
	{"schedule: both day fields", "base: debian\nschedule: \"0 4 1 * 1\"", []want{{SeverityError, "schedule", "both day of month and day of week"}}},
	{"schedule: hourly is quiet", "base: debian\nschedule: hourly", nil},
	{"schedule: once an hour by cron is quiet", "base: debian\nschedule: \"17 */2 * * *\"", nil},
	{"schedule: every minute", "base: debian\nschedule: \"* * * * *\"", []want{{SeverityError, "schedule", "more often than hourly"}}},
	{"schedule: every 5 minutes", "base: debian\nschedule: \"*/5 * * * *\"", []want{{SeverityError, "schedule", "more often than hourly"}}},
	{"schedule: twice an hour", "base: debian\nschedule: \"0,30 4 * * *\"", []want{{SeverityError, "schedule", "more often than hourly"}}},
	{"schedule: a range of minutes", "base: debian\nschedule: \"0-1 * * * *\"", []want{{SeverityError, "schedule", "more often than hourly"}}},
	{"backup: every 15 minutes is fine", "base: debian\nbackup: {tool: borg, schedule: \"*/15 * * * *\", destinations: [/b]}", nil},
	{"schedule: not a dpkg distribution warns", "base: fedora\nschedule: daily", []want{{SeverityWarning, "schedule", "Debian and Ubuntu archives only"}}},

	{"init-distro: default init is quiet", "base: void", nil},
	{"init-distro: systemd on void", "base: void\ninit: systemd", []want{{SeverityError, "init", "Void Linux ships runit"}}},
	{"init-distro: systemd on alpine", "base: alpine\ninit: systemd", []want{{SeverityError, "init", "Alpine does not ship systemd"}}},
	{"init-distro: runit on fedora", "base: fedora\ninit: runit", []want{{SeverityError, "init", "Fedora supports only systemd"}}},
	{"init-distro: openrc on arch", "base: arch\ninit: openrc", []want{{SeverityError, "init", "Artix"}}},
	{"init-distro: openrc on debian warns", "base: debian\ninit: openrc", []want{{SeverityWarning, "init", "possible but unusual"}}},
	{"init-distro: systemd on gentoo is quiet", "base: gentoo\ninit: systemd", []want{{SeverityWarning, "base", "Gentoo compiles"}}},

	{"architecture: aarch64 warns about emulation", "base: debian\narchitecture: aarch64", []want{{SeverityWarning, "architecture", "emulation"}}},
	{"architecture: arch on aarch64", "base: arch\narchitecture: aarch64", []want{{SeverityWarning, "architecture", "Arch Linux ARM"}, {SeverityWarning, "architecture", "emulation"}}},

	{"kernel: custom flags are refused", "base: debian\nkernel: {customFlags: [CONFIG_BPF=y]}", []want{{SeverityError, "kernel.customFlags", "not compiled from source yet"}}},
	{"kernel: a point release cannot be pinned", "base: debian\nkernel: {version: \"6.1.99\"}", []want{{SeverityError, "kernel.version", "latest 6.1 point release only"}}},
	{"kernel: the release's series is quiet", "base: debian\nkernel: {version: \"6.1\"}", nil},
	{"kernel: alpine's lts series is quiet", "base: alpine\nrelease: \"3.21\"\nkernel: {version: \"6.12\"}", nil},
	{"kernel: another series is refused", "base: ubuntu\nkernel: {version: \"6.6\"}", []want{{SeverityError, "kernel.version", "packages kernel 6.8, not 6.6"}}},
	{"kernel: no pin on a rolling release", "base: arch\nkernel: {version: \"6.6\"}", []want{{SeverityError, "kernel.version", "cannot be pinned on Arch Linux rolling"}}},
	{"kernel: latest on debian is lts", "base: debian\nkernel: {version: latest}", []want{{SeverityWarning, "kernel.version", "same kernel as lts"}}},
	{"kernel: lts on debian is quiet", "base: debian\nkernel: {version: lts}", nil},
	{"kernel: lts on fedora is latest", "base: fedora\nkernel: {version: lts}", []want{{SeverityWarning, "kernel.version", "not a long-term series"}}},
	{"kernel: duplicate module warns", "base: debian\nkernel: {modules: [kvm, kvm]}", []want{{SeverityWarning, "kernel.modules[1]", "twice"}}},

	{"gentoo-build-time: gentoo warns", "base: gentoo", []want{{SeverityWarning, "base", "hours"}}},

	{"filesystem-features: zstd on btrfs is quiet", "base: debian\nfilesystem: {root: btrfs, compression: zstd, snapshots: true}", nil},
	{"filesystem-features: lz4 on btrfs", "base: debian\nfilesystem: {root: btrfs, compression: lz4}", []want{{SeverityError, "filesystem.compression", "does not support lz4"}}},
	{"filesystem-features: compression on xfs", "base: debian\nfilesystem: {root: xfs, compression: zstd}", []want{{SeverityError, "filesystem.compression", "no transparent compression"}}},
	{"filesystem-features: snapshots on ext4", "base: debian\nfilesystem: {snapshots: true}", []want{{SeverityError, "filesystem.snapshots", "copy-on-write"}}},
	{"filesystem-features: snapshots on ext4 with lvm", "base: debian\nfilesystem: {snapshots: true, lvm: true}", nil},
	{"filesystem-features: mdraid under btrfs warns", "base: debian\nfilesystem: {root: btrfs, raid: raid1}", []want{{SeverityWarning, "filesystem.raid", "own redundancy"}}},

	{"zfs-support: zfs on alpine warns", "base: alpine\nfilesystem: {root: zfs, partitions: [{mount: /boot, size: 1G, fs: ext4}]}", []want{{SeverityWarning, "filesystem.root", "zfs-lts"}}},
	{"zfs-support: zfs /boot with grub warns", "base: debian\nfilesystem: {root: zfs}", []want{{SeverityWarning, "filesystem.root", "GRUB reads only a subset"}}},
	{"zfs-support: zfs on fedora warns", "base: fedora\nfilesystem: {root: zfs, partitions: [{mount: /boot, size: 1G, fs: ext4}]}", []want{{SeverityWarning, "filesystem.root", "out-of-tree"}}},

	{"partitions: good layout is quiet", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /boot/efi, size: 512M}\n    - {mount: swap, size: 4G}\n    - {mount: /, size: rest}", nil},
	{"partitions: duplicate mount", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /home, size: 10G}\n    - {mount: /home, size: 20G}", []want{{SeverityError, "filesystem.partitions[1].mount", "used twice"}}},
	{"partitions: two rest", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /, size: rest}\n    - {mount: /home, size: 100%}", []want{{SeverityError, "filesystem.partitions[1].size", "only one partition"}}},
	{"partitions: swap with ext4", "base: debian\nfilesystem:\n  partitions:\n    - {mount: swap, size: 1G, fs: ext4}", []want{{SeverityError, "filesystem.partitions[0].fs", "fs: swap"}}},
	{"partitions: ESP not vfat", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /efi, size: 1G, fs: ext4}", []want{{SeverityError, "filesystem.partitions[0].fs", "must be vfat"}}},
	{"partitions: root fs mismatch", "base: debian\nfilesystem:\n  root: btrfs\n  partitions:\n    - {mount: /, size: rest, fs: xfs}", []want{{SeverityError, "filesystem.partitions[0].fs", "filesystem.root is btrfs"}}},
	{"partitions: systemd-boot without ESP", "base: arch\ncustomization: {bootloader: systemd-boot}\nfilesystem:\n  partitions:\n    - {mount: /, size: rest}", []want{{SeverityError, "filesystem.partitions", "EFI system partition"}}},
	{"partitions: vfat elsewhere warns", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /data, size: 1G, fs: vfat}", []want{{SeverityWarning, "filesystem.partitions[0].fs", "no permissions"}}},

	{"luks-boot: luks2 with grub and no /boot", "base: arch\nfilesystem: {encryption: luks2}", []want{{SeverityError, "filesystem.encryption", "GRUB cannot unlock LUKS2"}}},
	{"luks-boot: luks2 with systemd-boot and BIOS", "base: arch\nfilesystem: {encryption: luks2}\ncustomization: {bootloader: systemd-boot}", []want{{SeverityError, "filesystem.encryption", "GRUB, which boots BIOS machines"}}},
	{"luks-boot: luks2 with grub and a /boot partition", "base: debian\nfilesystem:\n  encryption: luks2\n  partitions: [{mount: /boot, size: 1G, fs: ext4}]", nil},
	{"luks-boot: luks1 with grub asks twice", "base: arch\nfilesystem: {encryption: luks1}", []want{{SeverityWarning, "filesystem.encryption", "asked twice"}}},
	{"luks-boot: luks1 with grub and a /boot partition", "base: debian\nfilesystem:\n  encryption: luks1\n  partitions: [{mount: /boot, size: 1G, fs: ext4}]", nil},
	{"luks-boot: luks2 with systemd-boot on UEFI", "base: debian\nfilesystem: {encryption: luks2}\ncustomization: {bootloader: systemd-boot, firmware: uefi}", nil},
	{"luks-boot: bcachefs with grub", "base: arch\nfilesystem: {root: bcachefs, encryption: luks1}", []want{{SeverityError, "filesystem.root", "GRUB cannot read bcachefs"}, {SeverityWarning, "filesystem.encryption", "native encryption"}}},
	{"luks-boot: luks under zfs warns", "base: debian\nfilesystem: {root: zfs, encryption: luks1, partitions: [{mount: /boot, size: 1G, fs: ext4}]}", []want{{SeverityWarning, "filesystem.encryption", "native encryption"}}},

	{"mac-conflict: apparmor and selinux", "base: debian\nsecurityFeatures:\n  mac: [apparmor, selinux]", []want{{SeverityError, "securityFeatures.mac", "cannot both"}, {SeverityWarning, "securityFeatures.mac", "SELinux reference policy"}}},
	{"mac-conflict: one framework is quiet", "base: debian\nsecurityFeatures:\n  mac: [apparmor]", nil},
	{"mac-conflict: repeated framework warns", "base: ubuntu\nsecurityFeatures:\n  mac: [apparmor, apparmor]", []want{{SeverityWarning, "securityFeatures.mac", "more than once"}}},

	{"mac-distro: selinux on arch warns", "base: arch\nsecurityFeatures: {mac: selinux}", []want{{SeverityWarning, "securityFeatures.mac", "AUR"}}},
	{"mac-distro: selinux on alpine", "base: alpine\nsecurityFeatures: {mac: selinux}", []want{{SeverityError, "securityFeatures.mac", "no SELinux policy"}}},
	{"mac-distro: apparmor on fedora warns", "base: fedora\nsecurityFeatures: {mac: apparmor}", []want{{SeverityWarning, "securityFeatures.mac", "built around SELinux"}}},
	{"mac-distro: selinux on fedora is quiet", "base: fedora\nsecurityFeatures: {mac: selinux}", nil},

	{"display-compositor: sway on wayland is quiet", "base: arch\ndisplay: {server: wayland, compositor: sway}", nil},
	{"display-compositor: hyprland on xorg", "base: arch\ndisplay: {server: xorg, compositor: hyprland}", []want{{SeverityError, "display.compositor", "Wayland compositor"}}},
	{"display-compositor: i3 on wayland", "base: arch\ndisplay: {server: wayland, compositor: i3}", []want{{SeverityError, "display.compositor", "X11 window manager"}}},
	{"display-compositor: compositor without server", "base: arch\ndisplay: {compositor: gnome}", []want{{SeverityError, "display.compositor", "needs a display server"}}},
	{"display-compositor: server without compositor warns", "base: arch\ndisplay: {server: xorg}", []want{{SeverityWarning, "display.server", "boots to a console"}}},
	{"display-compositor: gnome on either is quiet", "base: fedora\ndisplay: {server: xorg, compositor: gnome}", nil},

	{"display-components: polybar on wayland", "base: arch\ndisplay: {server: wayland, compositor: sway, bar: polybar}", []want{{SeverityError, "display.bar", "X11-only"}}},
	{"display-components: foot on xorg", "base: arch\ndisplay: {server: xorg, compositor: i3, terminal: foot}", []want{{SeverityError, "display.terminal", "Wayland-only"}}},
	{"display-components: xterm on wayland warns", "base: arch\ndisplay: {server: wayland, compositor: sway, terminal: xterm}", []want{{SeverityWarning, "display.terminal", "XWayland"}}},
	{"display-components: i3lock on wayland", "base: arch\ndisplay: {server: wayland, compositor: sway, lockscreen: i3lock}", []want{{SeverityError, "display.lockscreen", "X11-only"}}},
	{"display-components: terminal without server", "base: arch\ndisplay: {terminal: kitty}", []want{{SeverityError, "display.terminal", "needs a display server"}}},
	{"display-theme: theme without server warns", "base: arch\ndisplay: {theme: Nord}", []want{{SeverityWarning, "display.theme", "no effect"}}},
	{"display-theme: a GTK theme on sway is quiet", "base: arch\ndisplay: {server: wayland, compositor: sway, theme: Adwaita-dark}", nil},
	{"display-theme: a theme GTK lacks warns", "base: arch\ndisplay: {server: wayland, compositor: sway, theme: Nordic}", []want{{SeverityWarning, "display.theme", "not part of GTK"}}},
	{"display-theme: KDE keeps its Qt style", "base: arch\ndisplay: {server: wayland, compositor: kde, theme: Adwaita}", []want{{SeverityWarning, "display.theme", "KDE Plasma keeps its own Qt style"}}},
	{"display-theme: COSMIC draws its own", "base: arch\ndisplay: {server: wayland, compositor: cosmic, theme: Adwaita}", []want{{SeverityWarning, "display.theme", "COSMIC draws its own theme"}}},

	{"firewall: accept with ports warns", "base: debian\nsecurityFeatures:\n  firewall: {defaultPolicy: accept, allowedPorts: [80]}", []want{{SeverityWarning, "securityFeatures.firewall.allowedPorts", "every port is open"}}},
	{"firewall: disabled with settings warns", "base: debian\nsecurityFeatures:\n  firewall: {enabled: false, allowedPorts: [80]}", []want{{SeverityWarning, "securityFeatures.firewall.enabled", "no effect"}}},
	{"firewall: duplicate port warns", "base: debian\nsecurityFeatures:\n  firewall: {allowedPorts: [80, \"80/tcp\"]}", []want{{SeverityWarning, "securityFeatures.firewall.allowedPorts[1]", "twice"}}},
	{"firewall: ordinary ruleset is quiet", "base: debian\nsecurityFeatures:\n  firewall: {allowedPorts: [80, 443, \"53/udp\"]}", nil},

	{"ssh: options without enable warn", "base: debian\nsecurityFeatures:\n  ssh: {port: 2222}", []want{{SeverityWarning, "securityFeatures.ssh.port", "not enabled"}}},
	{"ssh: root with password", "base: debian\n" + userWithHash + "securityFeatures:\n  ssh: {enable: true, rootLogin: \"yes\", passwordAuth: true, fail2ban: true}", []want{{SeverityWarning, "securityFeatures.ssh.rootLogin", "brute-force"}}},
	{"ssh: password without fail2ban", "base: debian\n" + userWithHash + "securityFeatures:\n  ssh: {enable: true, passwordAuth: true}", []want{{SeverityWarning, "securityFeatures.ssh.passwordAuth", "fail2ban"}}},
	{"ssh: keys only is quiet", "base: debian\nsecurityFeatures:\n  ssh: {enable: true}", nil},

	{"updates: automatic on arch warns", "base: arch\nsecurityFeatures: {updates: {automatic: true}}", []want{{SeverityWarning, "securityFeatures.updates.automatic", "partial upgrade"}}},
	{"updates: automatic on debian is quiet", "base: debian\nsecurityFeatures: {updates: {automatic: true}}", nil},

	{"kernel-hardening: strict on a desktop warns", "base: fedora\ndisplay: {server: wayland, compositor: gnome}\nsecurityFeatures: {kernelHardening: strict}", []want{{SeverityWarning, "securityFeatures.kernelHardening", "user namespaces"}}},
	{"kernel-hardening: strict on a server is quiet", "base: debian\nsecurityFeatures: {kernelHardening: strict}", nil},

	{"services-conflict: mysql and mariadb", "base: debian\nservices: {databases: [mysql, mariadb]}", []want{{SeverityError, "services.databases[1]", "conflict"}}},
	{"services-conflict: redis and valkey", "base: debian\nservices: {databases: [valkey, redis]}", []want{{SeverityError, "services.databases[0]", "conflict"}}},
	{"services-conflict: mongodb warns", "base: debian\nservices: {databases: [mongodb]}", []want{{SeverityWarning, "services.databases[0]", "SSPL"}}},

	{"backup: snapper needs btrfs", "base: debian\nbackup: {tool: snapper}", []want{{SeverityError, "backup.tool", "btrfs"}}},
	{"backup: restic needs a destination", "base: debian\nbackup: {tool: restic}", []want{{SeverityError, "backup.destinations", "at least one destination"}}},
	{"backup: snapper ignores destinations", "base: debian\nfilesystem: {root: btrfs}\nbackup: {tool: snapper, destinations: [/mnt]}", []want{{SeverityWarning, "backup.destinations", "ignored"}}},
	{"backup: settings without a tool warn", "base: debian\nbackup: {schedule: daily}", []want{{SeverityWarning, "backup", "without a tool"}}},
	{"backup: schedule systemd cannot express", "base: debian\nbackup: {tool: borg, schedule: \"0 0 1 * 1\", destinations: [/b]}", []want{{SeverityError, "backup.schedule", "both day of month and day of week"}}},
	{"backup: minute out of range", "base: debian\nbackup: {tool: borg, schedule: \"75 * * * *\", destinations: [/b]}", []want{{SeverityError, "backup.schedule", "not a value from 0 to 59"}}},
	{"backup: borg with a destination is quiet", "base: debian\nbackup: {tool: borg, destinations: [\"ssh://u@h/./repo\"]}", nil},

	{"shell: oh-my-zsh with bash", "base: debian\ncustomization: {shellFramework: oh-my-zsh}", []want{{SeverityError, "customization.shellFramework", "zsh framework"}}},
	{"shell: theme without framework warns", "base: debian\ncustomization: {shell: zsh, shellTheme: agnoster}", []want{{SeverityWarning, "customization.shellTheme", "needs a shell framework"}}},
	{"shell: starship hides theme", "base: debian\ncustomization: {shell: zsh, shellFramework: oh-my-zsh, shellTheme: agnoster, starship: true}", []want{{SeverityWarning, "customization.starship", "not shown"}}},
	{"shell: fisher with fish is quiet", "base: debian\ncustomization: {shell: fish, shellFramework: fisher}", nil},

	{"bootloader: systemd-boot on void warns", "base: void\ncustomization: {bootloader: systemd-boot}", []want{{SeverityWarning, "customization.bootloader", "manual boot entries"}}},

	{"outputs: iso is quiet", "base: debian\noutputs: [iso]", nil},
	{"outputs: qcow2 is quiet", "base: debian\noutputs: [iso, qcow2]", nil},
	{"outputs: raw is quiet", "base: debian\noutputs: [raw]\nfilesystem: {diskSize: 8G}", nil},

	{"disk-only: the filesystem section on an ISO", "base: arch\nfilesystem: {root: xfs, lvm: true}", []want{{SeverityWarning, "filesystem", "filesystem.root and filesystem.lvm take effect only in disk images"}}},
	{"disk-only: the boot loader on an ISO", "base: arch\ncustomization: {bootloader: grub, firmware: uefi}", []want{{SeverityWarning, "customization.bootloader", "bootloader grub takes effect only"}, {SeverityWarning, "customization.firmware", "firmware uefi takes effect only"}}},
	{"disk-only: an installer ISO notes the disk size only", "base: debian\nfilesystem: {root: xfs, diskSize: 20G}\ncustomization: {bootloader: grub, firmware: uefi}", []want{{SeverityWarning, "filesystem", "filesystem.diskSize takes effect only in disk images (outputs: [qcow2] or [raw]): linux-builder-install uses the whole target disk"}}},
	{"installer: btrfs with zstd on LUKS2 with swap is quiet", "base: debian\nfilesystem: {root: btrfs, compression: zstd, snapshots: true, encryption: luks2, partitions: [{mount: swap, size: 2G}]}", nil},
	// linux-builder-install makes LVM (the root and the swap as logical
	// volumes), not RAID.
	{"installer: raid is not made", "base: debian\nfilesystem: {root: xfs, lvm: true, raid: raid1}", []want{{SeverityWarning, "filesystem.raid", "does not make RAID"}}},
	{"installer: lvm is made", "base: debian\nfilesystem: {root: ext4, lvm: true}", nil},
	{"installer: lvm's swap and snapshots", "base: debian\nfilesystem: {root: ext4, lvm: true, encryption: luks2, snapshots: true, partitions: [{mount: swap, size: 1G}]}", []want{
		{SeverityWarning, "filesystem.snapshots", "no thin pool"},
		{SeverityWarning, "filesystem.partitions", "encrypted with the root's key"}}},
	{"installer: lvm's plain swap", "base: debian\nfilesystem: {root: xfs, lvm: true, partitions: [{mount: swap, size: 1G}]}", []want{
		{SeverityWarning, "filesystem.partitions", "a logical volume of the volume group"}}},
	// The installer makes its own ESP: systemd-boot needs none listed.
	{"installer: systemd-boot with a swap and no ESP listed", "base: debian\ncustomization: {bootloader: systemd-boot, firmware: uefi}\nfilesystem: {partitions: [{mount: swap, size: 1G}]}", []want{
		{SeverityWarning, "customization.bootloader", "only with Secure Boot off"},
		{SeverityWarning, "customization.bootloader", "the live ISO boots with GRUB"}}},
	{"installer: an encrypted system's other partition", "base: debian\nfilesystem:\n  encryption: luks2\n  partitions: [{mount: /home, size: 20G}, {mount: swap, size: 1G}]", []want{{SeverityError, "filesystem.partitions[0]", "left unencrypted"}}},
	{"installer: zfs has no installer", "base: debian\nfilesystem: {root: zfs, partitions: [{mount: /boot, size: 1G, fs: ext4}]}", []want{{SeverityWarning, "filesystem.root", "does not make a zfs root"}}},
	{"installer: its own /boot and ESP", "base: debian\nfilesystem:\n  partitions: [{mount: /boot/efi, size: 1G}, {mount: /srv, size: 2G, fs: xfs}]", []want{{SeverityWarning, "filesystem.partitions[0]", "lays out /boot/efi itself"}, {SeverityWarning, "filesystem.partitions[1].fs", "makes the partition /srv ext4"}}},
	// linux-builder-install boots UEFI machines with systemd-boot too:
	// unsigned, so without Secure Boot, and not the live ISO's.
	{"installer: systemd-boot", "base: debian\ncustomization: {bootloader: systemd-boot, firmware: uefi}", []want{
		{SeverityWarning, "customization.bootloader", "UEFI machines boot installed systems (linux-builder-install) only with Secure Boot off"},
		{SeverityWarning, "customization.bootloader", "the live ISO boots with GRUB"}}},
	{"installer: systemd-boot needs systemd", "base: debian\ninit: openrc\ncustomization: {bootloader: systemd-boot, firmware: uefi}", []want{
		{SeverityWarning, "init", "possible but unusual"},
		{SeverityWarning, "customization.bootloader", "which a system with init openrc lacks: installed systems boot UEFI machines with GRUB"}}},
	{"installer: systemd-boot on both firmwares", "base: debian\ncustomization: {bootloader: systemd-boot, firmware: both}", []want{
		{SeverityWarning, "customization.bootloader", "BIOS machines boot installed systems (linux-builder-install) with GRUB"},
		{SeverityWarning, "customization.bootloader", "only with Secure Boot off"},
		{SeverityWarning, "customization.bootloader", "the live ISO boots with GRUB"}}},
	{"installer: a btrfs root's /home is its subvolume", "base: debian\nfilesystem: {root: btrfs, snapshots: true, partitions: [{mount: /home, size: 20G}, {mount: /.snapshots, size: 5G}]}", []want{{SeverityError, "filesystem.partitions[0]", "over the btrfs root's subvolume @home"}, {SeverityError, "filesystem.partitions[1]", "subvolume @snapshots"}}},
	{"installer: f2fs is made without compression", "base: debian\nfilesystem: {root: f2fs, compression: lz4}", []want{{SeverityWarning, "filesystem.compression", "f2fs without compression"}}},
	{"installer: the root takes the rest", "base: debian\nfilesystem: {partitions: [{mount: /, size: 10G}]}", []want{{SeverityWarning, "filesystem.partitions[0].size", "the rest of the disk"}}},
	{"kernel: the installer's parameters are reserved", "base: debian\ndefaults: {kernelParams: [quiet, lb.install=/dev/sda, LB.Install.keyfile=/k]}", []want{{SeverityError, "defaults.kernelParams[1]", "reserved"}, {SeverityError, "defaults.kernelParams[2]", "erase the disk"}}},
	{"installer: the system's own directories stay on the root", "base: debian\nfilesystem: {partitions: [{mount: /etc, size: 1G}, {mount: /boot/grub, size: 1G}, {mount: /var/run, size: 1G}, {mount: /srv, size: rest}, {mount: /tiny, size: 100K}, {mount: swap, size: rest}]}", []want{{SeverityError, "filesystem.partitions[0].mount", "cannot make a partition at /etc"}, {SeverityError, "filesystem.partitions[1].mount", "at /boot/grub"}, {SeverityError, "filesystem.partitions[2].mount", "at /var/run"}, {SeverityError, "filesystem.partitions[3].size", "leaving nothing for the root"}, {SeverityError, "filesystem.partitions[4].size", "smaller than the 16M"}, {SeverityError, "filesystem.partitions[5].size", "only one partition can take the rest"}}},
	{"installer: s6 leaves an encrypted swap off", "base: debian\ninit: s6\nfilesystem: {encryption: luks2, partitions: [{mount: swap, size: 1G}]}", []want{{SeverityWarning, "init", "s6 on debian"}, {SeverityWarning, "filesystem.partitions", "encrypted swap"}}},
	{"installer: none on arch", "base: arch\nfilesystem: {root: btrfs, compression: lz4}", []want{{SeverityError, "filesystem.compression", "does not support lz4"}}},
	{"disk-only: quiet for a disk image", "base: debian\noutputs: [qcow2]\nfilesystem: {root: ext4}\ncustomization: {firmware: uefi}", nil},
	{"disk-layout: an xfs root is installed from the live ISO, quietly", "base: debian\noutputs: [qcow2]\nfilesystem: {root: xfs}", nil},
	{"disk-layout: an f2fs root is installed from the live ISO, quietly", "base: ubuntu\noutputs: [raw]\nfilesystem: {root: f2fs, diskSize: 16G}", nil},
	{"disk-layout: an xfs root without the installer", "base: arch\noutputs: [qcow2]\nfilesystem: {root: xfs}", []want{{SeverityError, "filesystem.root", "which only Debian and Ubuntu x86-64 systems carry"}}},
	{"disk-layout: an xfs root on arm64 has no installer", "base: debian\narchitecture: aarch64\noutputs: [qcow2]\nfilesystem: {root: xfs}", []want{{SeverityError, "filesystem.root", "which only Debian and Ubuntu x86-64 systems carry"}, {SeverityWarning, "architecture", "user-mode emulation"}}},
	{"disk-layout: a root neither the disk step nor the installer makes", "base: debian\noutputs: [qcow2]\nfilesystem: {root: bcachefs}", []want{{SeverityError, "filesystem.root", "filesystem.root bcachefs is not built in disk images yet"}}},
	{"disk-layout: an installed disk image's partitions on its default disk", "base: debian\noutputs: [qcow2]\nfilesystem:\n  root: xfs\n  partitions: [{mount: /srv, size: 6G, fs: ext4}, {mount: swap, size: 1G}]", []want{{SeverityError, "filesystem.partitions", "leaving no room on the 8G disk an installed disk image gets without filesystem.diskSize for linux-builder-install's ESP (512M) and /boot (1G)"}}},
	{"disk-layout: an installed disk image's partitions fit a larger disk", "base: debian\noutputs: [qcow2]\nfilesystem:\n  root: xfs\n  diskSize: 10G\n  partitions: [{mount: /srv, size: 6G, fs: ext4}, {mount: swap, size: 1G}]", nil},
	{"disk-layout: an installed disk image's partition is the root's xfs by default, which the installer does not make", "base: debian\noutputs: [qcow2]\nfilesystem:\n  root: xfs\n  partitions: [{mount: /srv, size: 1G}]", []want{{SeverityError, "filesystem.partitions[0].fs", "makes the partition /srv ext4, not xfs; this spec's disk images are installed by it"}}},
	{"disk-layout: an installed disk image's own partitions and a sized root", "base: debian\noutputs: [qcow2]\nfilesystem:\n  root: xfs\n  diskSize: 20G\n  partitions: [{mount: /boot, size: 2G, fs: ext4}, {mount: /, size: 10G}]", []want{{SeverityError, "filesystem.partitions[0]", "lays out /boot itself"}, {SeverityError, "filesystem.partitions[1].size", "gives the root the rest of the disk, not 10G"}}},
	{"disk-layout: f2fs compression in an installed disk image", "base: debian\noutputs: [raw]\nfilesystem: {root: f2fs, compression: lz4}", []want{{SeverityError, "filesystem.compression", "makes f2fs without compression"}}},
	{"disk-layout: a share of the installed disk's default size", "base: debian\noutputs: [raw]\nfilesystem:\n  root: xfs\n  partitions: [{mount: /srv, size: 90%, fs: ext4}]", []want{{SeverityError, "filesystem.partitions", "leaving no room on the 8G disk an installed disk image gets"}}},
	{"disk-layout: an installed disk image too small", "base: debian\noutputs: [raw]\nfilesystem: {root: xfs, diskSize: 1G}", []want{{SeverityError, "filesystem.diskSize", "needs 2G or more"}}},
	{"disk-layout: an encrypted xfs root", "base: debian\noutputs: [qcow2]\nfilesystem: {root: xfs, encryption: luks1}", []want{{SeverityError, "filesystem.encryption", "luks1 is not built in disk images"}, {SeverityWarning, "filesystem.encryption", "GRUB unlocks the LUKS1 root itself"}}},
	{"disk-layout: a btrfs root with compression and snapshots is quiet", "base: debian\noutputs: [qcow2]\nfilesystem: {root: btrfs, compression: zstd, snapshots: true}", nil},
	{"disk-layout: a /home partition over the btrfs root's @home", "base: debian\noutputs: [raw]\nfilesystem:\n  root: btrfs\n  snapshots: true\n  partitions: [{mount: /home, size: 1G}, {mount: /.snapshots, size: 1G}, {mount: /srv, size: 1G}]", []want{{SeverityError, "filesystem.partitions[0]", "subvolume @home"}, {SeverityError, "filesystem.partitions[1]", "subvolume @snapshots"}}},
	{"disk-layout: btrfs partitions (the root's file system by default) are quiet", "base: debian\noutputs: [raw]\nfilesystem:\n  root: btrfs\n  partitions: [{mount: /srv, size: 1G}, {mount: /var/lib/data, size: 1G, fs: btrfs}, {mount: /opt, size: 1G, fs: ext4}]", nil},
	{"disk-layout: an xfs partition", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /, size: rest}, {mount: /home, size: 2G, fs: xfs}]", []want{{SeverityError, "filesystem.partitions[1].fs", "partition /home: xfs is not built in disk images yet"}}},
	{"installer: a disk image with lvm is installed from the live ISO, its partitions ext4", "base: debian\noutputs: [raw]\nfilesystem:\n  lvm: true\n  partitions: [{mount: /, size: rest}, {mount: /home, size: 2G, fs: xfs}]", []want{{SeverityError, "filesystem.partitions[1].fs", "linux-builder-install makes the partition /home ext4, not xfs; this spec's disk images are installed by it"}}},
	{"disk-layout: lvm without the installer", "base: fedora\noutputs: [raw]\nfilesystem: {lvm: true}", []want{{SeverityError, "filesystem.lvm", "which only Debian and Ubuntu x86-64 systems carry"}}},
	{"disk-layout: ext4 partitions besides the root are quiet", "base: debian\noutputs: [raw]\nfilesystem:\n  diskSize: 20G\n  partitions: [{mount: /home, size: 5G}, {mount: /var/log, size: 10%}]", nil},
	{"disk-layout: a partition on a system directory", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /usr, size: 5G}]", []want{{SeverityError, "filesystem.partitions[0].mount", "cannot have a partition at /usr"}}},
	{"disk-layout: a partition that takes the rest", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /, size: 8G}, {mount: /srv, size: rest}]", []want{{SeverityError, "filesystem.partitions[0].size", "a / partition of 8G"}, {SeverityError, "filesystem.partitions[1].size", "cannot take the rest"}}},
	{"disk-layout: a partition too small for a file system", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /srv, size: 1M}]", []want{{SeverityError, "filesystem.partitions[0].size", "smaller than the 16M"}}},
	{"disk-layout: a partition below a system directory", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /lib/modules, size: 1G}, {mount: /etc/systemd/system, size: 1G}]", []want{{SeverityError, "filesystem.partitions[0].mount", "cannot have a partition at /lib/modules"}, {SeverityError, "filesystem.partitions[1].mount", "cannot have a partition at /etc/systemd/system"}}},
	{"disk-layout: the same mount point twice", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /home, size: 1G}, {mount: /home, size: 1G}]", []want{{SeverityError, "filesystem.partitions[1].mount", "used twice"}}},
	{"disk-layout: a share of the disk too small for a file system", "base: debian\noutputs: [raw]\nfilesystem:\n  diskSize: 1G\n  partitions: [{mount: /home, size: 1%}]", []want{{SeverityError, "filesystem.partitions[0].size", "smaller than the 16M"}}},
	{"disk-layout: partitions over the cap without a diskSize", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /home, size: 40G}, {mount: /srv, size: 40G}]", []want{{SeverityError, "filesystem.partitions", "leaving no room on the 64G disk images are made up to"}}},
	{"disk-layout: partitions leaving no room for the ESP", "base: debian\noutputs: [raw]\nfilesystem:\n  diskSize: 1G\n  partitions: [{mount: /home, size: 49%}, {mount: swap, size: 50%}]", []want{{SeverityError, "filesystem.partitions", "leaving no room on the 1G disk"}}},
	{"disk-layout: systemd-boot with a swap partition needs no listed ESP", "base: debian\noutputs: [raw]\ncustomization: {bootloader: systemd-boot, firmware: uefi}\nfilesystem:\n  partitions: [{mount: swap, size: 1G}]", []want{{SeverityWarning, "customization.bootloader", "systemd-boot is not signed"}}},
	{"disk-layout: a swap partition and the root taking the rest are quiet", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /, size: rest}, {mount: swap, size: 2G}]", nil},
	{"disk-layout: a share of the disk for swap is quiet with a diskSize", "base: debian\noutputs: [qcow2]\nfilesystem:\n  diskSize: 20G\n  partitions: [{mount: swap, size: 10%}]", nil},
	{"disk-layout: a share of the disk for swap needs a diskSize", "base: debian\noutputs: [qcow2]\nfilesystem:\n  partitions: [{mount: swap, size: 10%}]", []want{{SeverityError, "filesystem.partitions[0].size", "needs filesystem.diskSize"}}},
	{"disk-layout: a swap that takes the rest", "base: debian\noutputs: [raw]\nfilesystem:\n  partitions: [{mount: /, size: 8G}, {mount: swap, size: rest}]", []want{{SeverityError, "filesystem.partitions[0].size", "a / partition of 8G is not built"}, {SeverityError, "filesystem.partitions[1].size", "leaves nothing for the root"}}},
	{"disk-layout: encryption", "base: debian\noutputs: [raw]\nfilesystem: {encryption: luks2}", []want{{SeverityError, "filesystem.encryption", "luks2 is not built in disk images: a passphrase or key baked into a published image would protect nothing"}, {SeverityError, "filesystem.encryption", "GRUB cannot unlock LUKS2"}}},
	{"disk-layout: a disk over the cap", "base: debian\noutputs: [raw]\nfilesystem: {diskSize: 65G}", []want{{SeverityError, "filesystem.diskSize", "larger than the 64G"}}},
	{"disk-layout: quiet on an ISO", "base: debian\nfilesystem: {diskSize: 65G}", nil},

	{"firmware: systemd-boot on BIOS", "base: debian\ncustomization: {bootloader: systemd-boot, firmware: bios}", []want{{SeverityError, "customization.bootloader", "cannot boot with legacy BIOS"}}},
	{"firmware: systemd-boot on both in a disk image warns", "base: debian\noutputs: [raw]\ncustomization: {bootloader: systemd-boot}", []want{{SeverityWarning, "customization.bootloader", "BIOS machines boot the disk image with GRUB"}, {SeverityWarning, "customization.bootloader", "only with Secure Boot off"}}},
	{"firmware: systemd-boot on UEFI in a Debian disk image is not signed", "base: debian\noutputs: [qcow2]\ncustomization: {bootloader: systemd-boot, firmware: uefi}", []want{{SeverityWarning, "customization.bootloader", "systemd-boot is not signed by Debian"}}},
	{"firmware: systemd-boot on UEFI in an Arch disk image says nothing of Secure Boot", "base: arch\noutputs: [qcow2]\ncustomization: {bootloader: systemd-boot, firmware: uefi}", nil},
	{"firmware: systemd-boot with the ISO too says the ISO is GRUB", "base: debian\noutputs: [iso, raw]\ncustomization: {bootloader: systemd-boot, firmware: uefi}", []want{{SeverityWarning, "customization.bootloader", "only with Secure Boot off"}, {SeverityWarning, "customization.bootloader", "the live ISO boots with GRUB"}}},
	{"firmware: grub on BIOS is quiet", "base: debian\ncustomization: {bootloader: grub, firmware: bios}", nil},

	{"partitions-fit: percentages over 100", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /, size: 60%}\n    - {mount: /home, size: 50%}", []want{{SeverityError, "filesystem.partitions[1].size", "add up to 110%"}}},
	{"partitions-fit: one partition over 100%", "base: debian\nfilesystem:\n  partitions: [{mount: swap, size: 150%}]", []want{{SeverityError, "filesystem.partitions[0].size", "add up to 150%"}}},
	{"partitions-fit: percentages of 100 leave no root", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /home, size: 70%}\n    - {mount: /srv, size: 30%}", []want{{SeverityError, "filesystem.partitions", "leaving nothing for the root file system"}}},
	{"partitions-fit: percentages of 100 with root are quiet", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /, size: 70%}\n    - {mount: /home, size: 30%}", nil},
	{"partitions-fit: the rest is not root", "base: debian\nfilesystem:\n  partitions:\n    - {mount: /boot/efi, size: 512M}\n    - {mount: /home, size: rest}", []want{{SeverityError, "filesystem.partitions[1].size", "leaving nothing for the root file system"}}},
	{"partitions-fit: an enormous size", "base: debian\nfilesystem:\n  partitions: [{mount: /srv, size: 999999999999T}]", []want{{SeverityError, "filesystem.partitions[0].size", "larger than any disk"}}},
	{"partitions-fit: an enormous disk", "base: debian\nfilesystem: {diskSize: 2000T}", []want{{SeverityError, "filesystem.diskSize", "not between 1K and 1024T"}}},
	{"partitions-fit: zero size", "base: debian\nfilesystem:\n  partitions: [{mount: /srv, size: 0G}]", []want{{SeverityError, "filesystem.partitions[0].size", "has size 0G"}}},
	{"partitions-fit: a swap larger than the disk", "base: debian\nfilesystem:\n  diskSize: 20G\n  partitions:\n    - {mount: swap, size: 32G}\n    - {mount: /, size: rest}", []want{{SeverityError, "filesystem.partitions[0].size", "swap of 32G is larger than the 20G disk"}}},
	{"partitions-fit: partitions larger than the disk", "base: debian\nfilesystem:\n  diskSize: 20G\n  partitions:\n    - {mount: /boot/efi, size: 512M}\n    - {mount: /home, size: 50%}\n    - {mount: /srv, size: 10G}", []want{{SeverityError, "filesystem.diskSize", "take 20.5G of the 20G disk"}}},
	{"partitions-fit: a good layout on a sized disk is quiet", "base: debian\nfilesystem:\n  diskSize: 40G\n  partitions:\n    - {mount: /boot/efi, size: 512M}\n    - {mount: swap, size: 10%}\n    - {mount: /, size: rest}", nil},

	{"package-names: plain names are quiet", "base: fedora\npackages: [vim, gcc-c++, python3.12, \"libfoo:i386\"]", nil},
	{"package-names: gentoo atom is quiet", "base: gentoo\npackages: [dev-lang/python, \"app-editors/vim::gentoo\"]", []want{{SeverityWarning, "base", "hours"}}},
	{"package-names: arch repository prefix is quiet", "base: arch\npackages: [extra/vim]", nil},
	{"package-names: debian release suffix is quiet", "base: debian\npackages: [vim/bookworm-backports]", nil},
	{"package-names: slash on fedora", "base: fedora\npackages: [evil.example/x]", []want{{SeverityError, "packages[0]", "not part of a package name on Fedora"}}},
	{"package-names: slash on alpine (categorized)", "base: alpine\npackages: {utils: [vim, x/y]}", []want{{SeverityError, "packages.utils[1]", "not part of a package name on Alpine"}}},
	{"package-names: rpm file", "base: fedora\npackages: [evil.rpm]", []want{{SeverityError, "packages[0]", "package file"}}},
	{"package-names: deb file in the map form", "base: debian\npackages: {x.deb: true}", []want{{SeverityError, `packages["x.deb"]`, "package file"}}},
	{"package-names: arch package archive", "base: arch\npackages: [x-1.0-1-x86_64.pkg.tar.zst]", []want{{SeverityError, "packages[0]", "package file"}}},

	{"users: a key-only user is quiet", "base: debian\nusers: [{name: alice, sudo: true, sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPSnvmxC64iuNJC5d6CSW+r+BXpBLNmWoVwhMY1WANhT alice@laptop\"]}]\nsecurityFeatures: {ssh: {enable: true}}", nil},
	{"users: hashes of every method are quiet", "base: debian\nusers:\n" +
		"  - {name: a, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}\n" +
		"  - {name: b, passwordHash: \"$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.\"}\n" +
		"  - {name: c, passwordHash: \"$2b$12$EfYC3Tn9HwlR5BakwAoP1uZvMbW3oJu3V/.Pan2T7o1nFCsKWURs6\"}\n" +
		"  - {name: d, passwordHash: \"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7\"}", nil},
	{"users: root is reserved", "base: debian\nusers: [{name: root, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}]", []want{{SeverityError, "users[0].name", "system account"}}},
	{"users: systemd- names are reserved", "base: debian\nusers: [{name: systemd-foo, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}]", []want{{SeverityError, "users[0].name", "system account"}}},
	{"users: duplicate names", "base: debian\nusers:\n  - {name: a, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}\n  - {name: a, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}", []want{{SeverityError, "users[1].name", "defined twice"}}},
	{"users: no way to log in warns", "base: debian\nusers: [{name: a}]", []want{{SeverityWarning, "users[0]", "nobody can log in"}}},
	{"users: keys without the SSH server warn", "base: debian\nusers: [{name: a, sshAuthorizedKeys: [\"ssh-rsa AAAAB3NzaC1yc2E= a@b\"]}]", []want{{SeverityWarning, "users[0].sshAuthorizedKeys", "not enabled"}}},
	{"users: password auth without a hash", "base: debian\nsecurityFeatures:\n  ssh: {enable: true, passwordAuth: true, fail2ban: true}", []want{{SeverityError, "securityFeatures.ssh.passwordAuth", "no user has one"}}},

	{"kernel: parameters of the whole allowed set are quiet", "base: debian\ndefaults: {kernelParams: [\"console=ttyS0,115200n8\", \"netconsole=6665@10.0.0.1/eth0,6666@10.0.0.2/\", \"root=UUID=0a-1b\", \"a.b_c-d=e+f:g@h\"]}", nil},
	{"kernel: the boot test's parameter is reserved", "base: debian\ndefaults: {kernelParams: [quiet, linux-builder.boot-test]}", []want{{SeverityError, "defaults.kernelParams[1]", "reserved"}}},
	{"kernel: any linux-builder parameter is reserved", "base: debian\ndefaults: {kernelParams: [Linux-Builder.anything=1]}", []want{{SeverityError, "defaults.kernelParams[0]", "reserved"}}},
	{"kernel: the kernel's Secure Boot line cannot be spelt", "base: debian\ndefaults: {kernelParams: [loglevel=6, \"x=secureboot:\", Secure, boot, enabled]}", []want{{SeverityError, "defaults.kernelParams[1]", "reserved"}}},
	{"backup: destinations with dashes inside names are quiet", "base: debian\nbackup: {tool: restic, destinations: [\"sftp:back-up@host-1.example.com:/srv/re-stic\", /mnt/my-disk]}", nil},
	{"dotfiles-host: a public host is quiet", "base: debian\ncustomization: {dotfiles: \"https://github.com/a/dots\"}", nil},
	{"dotfiles-host: git@ on a public host is quiet", "base: debian\ncustomization: {dotfiles: {repo: \"git@gitlab.com:a/dots\"}}", nil},
	{"dotfiles-host: an IP address", "base: debian\ncustomization: {dotfiles: \"https://169.254.169.254/latest/meta-data\"}", []want{{SeverityError, "customization.dotfiles", "not a public host name"}}},
	{"dotfiles-host: localhost with a port", "base: debian\ncustomization: {dotfiles: {repo: \"https://localhost:8080/a/b\"}}", []want{{SeverityError, "customization.dotfiles.repo", "not a public host name"}}},
	{"dotfiles-host: a single-label name", "base: debian\ncustomization: {dotfiles: \"https://gitea/a/b\"}", []want{{SeverityError, "customization.dotfiles", "not a public host name"}}},
	{"dotfiles-host: a private zone over ssh", "base: debian\ncustomization: {dotfiles: \"git@git.corp.internal:a/b\"}", []want{{SeverityError, "customization.dotfiles", "not a public host name"}}},
	{"dotfiles-host: a decimal IP", "base: debian\ncustomization: {dotfiles: \"https://2130706433/a/b\"}", []want{{SeverityError, "customization.dotfiles", "not a public host name"}}},

	{"post-install: duplicate script names", "base: debian\npostInstall:\n  scripts:\n    - {name: a.sh, run: echo 1}\n    - {name: a.sh, run: echo 2}", []want{{SeverityError, "postInstall.scripts[1]", "used twice"}}},
	{"post-install: duplicate services warn", "base: debian\npostInstall: {services: [nginx, nginx]}", []want{{SeverityWarning, "postInstall.services[1]", "twice"}}},
	{"post-install: unnamed scripts get distinct names", "base: debian\npostInstall:\n  scripts: [echo 1, echo 2]", nil},
}

// userWithHash is a users section with one password hash (SHA-512 of
// "secret"), for cases that enable password logins.
const userWithHash = "users: [{name: alice, passwordHash: \"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\"}]\n"

func TestRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			doc, diags := Parse("spec.yaml", []byte(tc.yaml))
			if doc.Spec == nil {
				t.Fatalf("spec did not decode: %s", diags.Error())
			}
			var got Diagnostics
			for _, d := range diags {
				if d.Code != CodeRule {
					t.Fatalf("case must decode cleanly, got %s", d)
				}
				// The disk-only rule notes every filesystem section on an
				// ISO; its own cases check it.
				if strings.HasSuffix(d.Message, diskOnlyNote) && !strings.HasPrefix(tc.name, "disk-only:") {
					continue
				}
				// Likewise the installer's notes on Debian and Ubuntu ISOs
				// (linux-builder-install): their own cases check them.
				if d.Severity == SeverityWarning && strings.Contains(d.Message, "linux-builder-install") && !strings.HasPrefix(tc.name, "disk-only:") && !strings.HasPrefix(tc.name, "installer:") {
					continue
				}
				got = append(got, d)
			}
			for _, w := range tc.want {
				found := false
				for _, d := range got {
					found = found || (d.Severity == w.sev && d.Path == w.path && strings.Contains(d.Message, w.text))
				}
				if !found {
					t.Errorf("missing %s at %s containing %q; got:\n%s", w.sev, w.path, w.text, dump(got))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d rule diagnostics, want %d:\n%s", len(got), len(tc.want), dump(got))
			}
			for _, d := range got {
				if !d.Pos.IsValid() {
					t.Errorf("rule diagnostic without position: %s", d)
				}
			}
		})
	}
}

func TestRuleTableCoversEveryRule(t *testing.T) {
	for _, r := range rules {
		fires := false
		for _, tc := range ruleCases {
			if strings.HasPrefix(tc.name, r.name+":") && len(tc.want) > 0 {
				fires = true
			}
		}
		if !fires {
			t.Errorf("rule %s has no table case that makes it fire", r.name)
		}
	}
}

// A rule diagnostic points at the line of the field it names.
func TestRulePositions(t *testing.T) {
	src := "base: debian\n\n\nsecurityFeatures:\n  ssh:\n    enable: true\n  mac:\n    - apparmor\n    - selinux\n"
	_, diags := Parse("p.yaml", []byte(src))
	for _, d := range diags.Errors() {
		if d.Path == "securityFeatures.mac" {
			if d.Pos != (Pos{Line: 7, Column: 3}) {
				t.Fatalf("mac conflict at %+v, want 7:3", d.Pos)
			}
			return
		}
	}
	t.Fatalf("no mac conflict reported: %s", dump(diags))
}
