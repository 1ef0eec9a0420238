package render

import (
	"fmt"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// distro is what the renderer knows about one distribution. Commands are
// shell fragments that take no spec values; package names are appended,
// quoted, by the templates.
type distro struct {
	// image is the default base image for a release and init system.
	image func(release spec.Release, init spec.InitSystem) string
	// env are ENV lines for the whole build.
	env []keyValue
	// prepare runs once before the first package installation.
	prepare string
	// refresh updates the package index; install is followed by packages;
	// cleanup removes caches. They are joined with && in one RUN.
	refresh, install, cleanup string
	// base are always installed: the tools the setup script and a usable
	// live system need.
	base []string
	// kernel returns the kernel packages for the spec.
	kernel func(s *spec.Spec) []string
	// live are the initramfs and live-boot packages. initramfs-tools
	// needs zstd's binary for its default COMPRESS=zstd; without it the
	// initramfs falls back to gzip, which a booting kernel unpacks several
	// times slower (3.5 s of every boot under TCG).
	live []string
	// initramfs is "initramfs-tools", "dracut" or "mkinitfs": which live
	// support files to write.
	initramfs string
	// initPkgs are the packages that make each init system PID 1.
	initPkgs map[spec.InitSystem][]string
	// ownS6 is set where the distribution packages s6 but neither
	// s6-linux-init nor s6-rc (Debian): an s6 system gets Linux Builder's
	// own stage 1 and scan directory (templates/context/s6-*.tmpl).
	ownS6 bool
	// adminGroup is the group whose members may use sudo.
	adminGroup string
	// runitDir is where enabled runit services are linked.
	runitDir string
	// sshService and cronService are the service names; cronPkg is the cron
	// daemon's package for non-systemd inits.
	sshService, cronService string
	// makesHostKeys is the init system under which the distribution's own
	// SSH service makes the missing host keys before sshd starts (Arch's
	// sshdgenkeys.service and Fedora's sshd-keygen@.service, both pulled
	// in by sshd.service; Alpine's OpenRC sshd script): the renderer adds
	// no key generation there (see buildHostKeys).
	makesHostKeys spec.InitSystem
	cronPkg       []string
	// updateCmd upgrades the system (automatic updates job).
	updateCmd string
	// upgrade, when set, upgrades the base image's own packages in the
	// shared system image, right after refresh: the base image was made
	// when it was imported, and a rebuild after the distribution published
	// updates (newer package indexes: a new system image) must install
	// them. Where refresh already upgrades (pacman -Syu, xbps-install -Syu)
	// it is empty.
	upgrade string
	// selfUpdates is set where the distribution has its own unattended
	// update mechanism that the renderer configures instead of a job.
	selfUpdates string
	// starshipPkg is false where the distribution does not package
	// starship; it is then installed from its release script.
	starshipPkg bool
	// grubDir is where GRUB drop-ins go ("" when GRUB reads none).
	grubDefaultDir string
	// systemCleanup, when set, ends the shared system image's layer
	// instead of cleanup: it keeps the package index, so the spec's
	// package layer installs without refreshing it (refreshing and
	// retrying only when the install fails on a stale index).
	systemCleanup string
	// buildOnly are package manager settings for the image build alone
	// (dpkg's unsafe I/O), written into the system image and removed by
	// finish.
	buildOnly []keyValue
	// finish is the spec build's last RUN: it removes buildOnly and the
	// kept package index, so the installed system has neither.
	finish string
	// noDocs is how the distribution leaves documentation, man pages and
	// translations out, unless the spec asks for them.
	noDocs noDocs
	// initramfsOnce, when set, builds the system image's initramfs once,
	// after every package is in, instead of each time a package asks.
	initramfsOnce *initramfsOnce
	// signedBoot are the packages of the distribution's signed boot chain
	// (spec.Spec.SignedBootChain): the ISO and disk steps take shim and
	// the signed GRUB from the image they install.
	signedBoot []string
	// installer are the packages linux-builder-install always needs
	// (spec.Spec.HasInstaller; grub2-common has grub-install and
	// update-grub): part of the system image, which specs of a
	// distribution share; the root file system's and encryption's tools
	// are the spec's own packages.
	installer []string
}

// initramfsOnce: deferEnv prefixes the system image's install command so
// that the kernel's own hook does not build the initramfs, and build makes
// any still missing once the install is done.
type initramfsOnce struct {
	deferEnv, build string
}

// initramfsToolsOnce is initramfs-tools' way. Without it the kernel's hook
// (/etc/kernel/postinst.d/initramfs-tools) builds the initramfs, and then
// the update-initramfs trigger that live-boot's hooks activated builds it
// again. The hook exits on INITRD=No, so the trigger, which dpkg runs
// after every package is configured, builds it once, with every hook in
// place; the loop creates any a trigger did not (update-initramfs -u
// makes the newest kernel's only). Only the install sees INITRD: the
// image keeps no such setting, so later kernel installs build theirs.
var initramfsToolsOnce = &initramfsOnce{
	deferEnv: "INITRD=No",
	build:    `for v in $(linux-version list); do [ -e "/boot/initrd.img-$v" ] || update-initramfs -c -k "$v"; done`,
}

// noDocs is a package manager's way to install without documentation:
// files written into the system image (path → content), a command run
// before its first install, and options added to every install.
type noDocs struct {
	files   []keyValue
	prepare string
	install string
}

// dpkgUnsafeIO is dpkg's setting that skips fsync while unpacking: an
// image build that fails is thrown away, so durability buys nothing there.
const dpkgUnsafeIO = "etc/dpkg/dpkg.cfg.d/90linux-builder-unsafe-io"

// aptNoTranslations is apt's setting that fetches no translated package
// descriptions: the build never shows them, and they were a third of the
// package lists the system image keeps (about 34 of 84 MB for bookworm),
// downloaded, unpacked and committed with its layer.
const aptNoTranslations = "etc/apt/apt.conf.d/90linux-builder-no-translations"

// The Debian family's build speed-ups: unsafe dpkg I/O and package lists
// without translations while building, the package lists kept between the
// system and the package layers, no docs.
var (
	aptBuildOnly = []keyValue{
		{dpkgUnsafeIO, "# Generated by Linux Builder: no fsync while the image is built.\n# The spec build's last step removes this file.\nforce-unsafe-io\n"},
		{aptNoTranslations, "// Generated by Linux Builder: no translated package descriptions while the\n// image is built. The spec build's last step removes this file.\nAcquire::Languages \"none\";\n"},
	}
	aptFinish = "rm -f /" + dpkgUnsafeIO + " /" + aptNoTranslations + " /var/cache/apt/*.bin && rm -rf /var/lib/apt/lists/*"
	// aptSystemCleanup ends the system image's layer: the downloaded
	// packages go, the lists stay, and so does apt's package cache, made
	// again for the installed system (the install left it stale): without
	// it every spec's package layer first rebuilds it from the lists (2 s
	// of CPU here). The source cache (as large, only used to rebuild the
	// package cache) goes.
	aptSystemCleanup = "apt-get clean && apt-cache gencaches && rm -f /var/cache/apt/srcpkgcache.bin"
	aptNoDocs        = noDocs{files: []keyValue{{"etc/dpkg/dpkg.cfg.d/90linux-builder-nodoc", "# Generated by Linux Builder: no documentation, man pages or translations\n# (defaults.documentation: true keeps them). Copyright files stay.\n" +
		"path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n" +
		"path-exclude=/usr/share/groff/*\npath-exclude=/usr/share/lintian/*\npath-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n"}}}
)

func kernelArchSuffix(s *spec.Spec, x86, arm string) string {
	if s.Architecture == spec.ArchAarch64 {
		return arm
	}
	return x86
}

var distros = map[spec.Base]*distro{
	spec.BaseDebian: {
		image:   func(r spec.Release, _ spec.InitSystem) string { return "debian:" + string(r) },
		env:     []keyValue{{"DEBIAN_FRONTEND", "noninteractive"}, {"LANG", "C.UTF-8"}},
		refresh: "apt-get update",
		install: "apt-get install -y --no-install-recommends",
		cleanup: "apt-get clean && rm -rf /var/lib/apt/lists/*",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps", "iproute2", "kmod", "less", "git", "curl"},
		kernel: func(s *spec.Spec) []string {
			return []string{"linux-image-" + kernelArchSuffix(s, "amd64", "arm64")}
		},
		live:      []string{"live-boot", "live-boot-initramfs-tools", "initramfs-tools", "zstd"},
		initramfs: "initramfs-tools",
		initPkgs: map[spec.InitSystem][]string{
			spec.InitSystemd: {"systemd-sysv", "dbus"},
			spec.InitOpenRC:  {"openrc", "sysvinit-core"},
			spec.InitRunit:   {"runit-init"},
			spec.InitS6:      {"s6"},
		},
		ownS6:      true,
		adminGroup: "sudo", runitDir: "/etc/service",
		sshService: "ssh", cronService: "cron", cronPkg: []string{"cron"},
		updateCmd:      "apt-get update && apt-get -y upgrade",
		upgrade:        "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs",
		selfUpdates:    "unattended-upgrades",
		grubDefaultDir: "/etc/default/grub.d",
		systemCleanup:  aptSystemCleanup,
		buildOnly:      aptBuildOnly,
		finish:         aptFinish,
		noDocs:         aptNoDocs,
		initramfsOnce:  initramfsToolsOnce,
		signedBoot:     []string{"shim-signed", "grub-efi-amd64-signed"},
		installer:      []string{"dosfstools", "fdisk", "grub-pc-bin", "grub2-common"},
	},
	spec.BaseUbuntu: {
		image:   func(r spec.Release, _ spec.InitSystem) string { return "ubuntu:" + string(r) },
		env:     []keyValue{{"DEBIAN_FRONTEND", "noninteractive"}, {"LANG", "C.UTF-8"}},
		refresh: "apt-get update",
		install: "apt-get install -y --no-install-recommends",
		cleanup: "apt-get clean && rm -rf /var/lib/apt/lists/*",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps", "iproute2", "kmod", "less", "git", "curl"},
		kernel: func(s *spec.Spec) []string {
			if s.Kernel.Version == "latest" {
				return []string{"linux-generic-hwe-" + string(s.Release)}
			}
			return []string{"linux-image-generic"}
		},
		live:       []string{"live-boot", "live-boot-initramfs-tools", "initramfs-tools", "zstd"},
		initramfs:  "initramfs-tools",
		initPkgs:   map[spec.InitSystem][]string{spec.InitSystemd: {"systemd-sysv", "dbus"}},
		adminGroup: "sudo", runitDir: "/etc/service",
		sshService: "ssh", cronService: "cron", cronPkg: []string{"cron"},
		updateCmd:      "apt-get update && apt-get -y upgrade",
		upgrade:        "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs",
		selfUpdates:    "unattended-upgrades",
		grubDefaultDir: "/etc/default/grub.d",
		systemCleanup:  aptSystemCleanup,
		buildOnly:      aptBuildOnly,
		finish:         aptFinish,
		noDocs:         aptNoDocs,
		initramfsOnce:  initramfsToolsOnce,
		installer:      []string{"dosfstools", "fdisk", "grub-pc-bin", "grub-efi-amd64-bin", "grub2-common"},
	},
	spec.BaseArch: {
		image:   func(spec.Release, spec.InitSystem) string { return "archlinux:latest" },
		env:     []keyValue{{"LANG", "C.UTF-8"}},
		prepare: "pacman-key --init && pacman-key --populate archlinux",
		refresh: "pacman -Syu --noconfirm",
		install: "pacman -S --noconfirm --needed",
		cleanup: "pacman -Scc --noconfirm",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps-ng", "iproute2", "kmod", "less", "git", "curl"},
		kernel: func(s *spec.Spec) []string {
			if s.Kernel.Version == "latest" {
				return []string{"linux", "linux-firmware"}
			}
			return []string{"linux-lts", "linux-firmware"}
		},
		live:       []string{"dracut", "squashfs-tools"},
		initramfs:  "dracut",
		initPkgs:   map[spec.InitSystem][]string{spec.InitSystemd: {"systemd", "systemd-sysvcompat"}},
		adminGroup: "wheel", runitDir: "/etc/runit/runsvdir/default",
		sshService: "sshd", cronService: "cronie", cronPkg: []string{"cronie"},
		makesHostKeys: spec.InitSystemd,
		updateCmd:     "pacman -Syu --noconfirm",
		starshipPkg:   true,
		noDocs:        noDocs{prepare: `sed -i '/^\[options\]/a NoExtract = usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* !usr/share/locale/locale.alias' /etc/pacman.conf`},
	},
	spec.BaseAlpine: {
		image:   func(r spec.Release, _ spec.InitSystem) string { return "alpine:" + string(r) },
		env:     []keyValue{{"LANG", "C.UTF-8"}},
		refresh: "apk update",
		install: "apk add --no-cache",
		cleanup: "rm -rf /var/cache/apk/*",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps", "iproute2", "kmod", "less", "git", "curl", "shadow", "bash", "util-linux"},
		kernel: func(s *spec.Spec) []string {
			if s.Kernel.Version == "latest" {
				return []string{"linux-stable", "linux-firmware-none"}
			}
			return []string{"linux-lts", "linux-firmware-none"}
		},
		live:      []string{"mkinitfs", "squashfs-tools"},
		initramfs: "mkinitfs",
		initPkgs: map[spec.InitSystem][]string{
			spec.InitOpenRC: {"openrc", "busybox-openrc"},
			spec.InitS6:     {"s6", "s6-rc", "s6-linux-init"},
			spec.InitRunit:  {"runit"},
		},
		adminGroup: "wheel", runitDir: "/etc/service",
		sshService: "sshd", cronService: "crond", cronPkg: []string{"busybox-openrc"},
		makesHostKeys: spec.InitOpenRC,
		updateCmd:     "apk upgrade -U",
		upgrade:       "apk upgrade",
		starshipPkg:   true,
	},
	spec.BaseFedora: {
		image:   func(r spec.Release, _ spec.InitSystem) string { return "fedora:" + string(r) },
		env:     []keyValue{{"LANG", "C.UTF-8"}},
		refresh: "dnf -y makecache",
		install: "dnf -y install --setopt=install_weak_deps=False",
		cleanup: "dnf clean all",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps-ng", "iproute", "kmod", "less", "git", "curl", "passwd", "shadow-utils"},
		kernel: func(*spec.Spec) []string {
			return []string{"kernel", "linux-firmware"}
		},
		live:       []string{"dracut", "dracut-live", "squashfs-tools"},
		initramfs:  "dracut",
		initPkgs:   map[spec.InitSystem][]string{spec.InitSystemd: {"systemd"}},
		adminGroup: "wheel", runitDir: "/etc/runit/runsvdir/default",
		sshService: "sshd", cronService: "crond", cronPkg: []string{"cronie"},
		makesHostKeys:  spec.InitSystemd,
		updateCmd:      "dnf -y upgrade --refresh",
		upgrade:        "dnf -y upgrade",
		selfUpdates:    "dnf-automatic",
		starshipPkg:    true,
		grubDefaultDir: "",
		noDocs:         noDocs{install: "--setopt=tsflags=nodocs"},
	},
	spec.BaseOpenSUSE: {
		image: func(r spec.Release, _ spec.InitSystem) string {
			if r == "tumbleweed" {
				return "opensuse/tumbleweed:latest"
			}
			return "opensuse/leap:" + trimPrefix(string(r), "leap-")
		},
		env:     []keyValue{{"LANG", "C.UTF-8"}},
		refresh: "zypper --non-interactive refresh",
		install: "zypper --non-interactive install --no-recommends",
		cleanup: "zypper clean --all",
		base:    []string{"ca-certificates", "sudo", "timezone", "procps", "iproute2", "kmod", "less", "git", "curl", "shadow", "systemd-sysvcompat"},
		kernel: func(*spec.Spec) []string {
			return []string{"kernel-default", "kernel-firmware-all"}
		},
		live:       []string{"dracut", "squashfs"},
		initramfs:  "dracut",
		initPkgs:   map[spec.InitSystem][]string{spec.InitSystemd: {"systemd"}},
		adminGroup: "wheel", runitDir: "/etc/runit/runsvdir/default",
		sshService: "sshd", cronService: "cron", cronPkg: []string{"cronie"},
		updateCmd:   "zypper --non-interactive update",
		upgrade:     "zypper --non-interactive update",
		starshipPkg: true,
		noDocs:      noDocs{prepare: `printf 'rpm.install.excludedocs = yes\n' >> /etc/zypp/zypp.conf`},
	},
	spec.BaseVoid: {
		image:   func(spec.Release, spec.InitSystem) string { return "ghcr.io/void-linux/void-glibc-full:latest" },
		env:     []keyValue{{"LANG", "C.UTF-8"}},
		prepare: "xbps-install -Syu xbps",
		refresh: "xbps-install -Syu",
		install: "xbps-install -y",
		cleanup: "rm -rf /var/cache/xbps/*",
		base:    []string{"ca-certificates", "sudo", "tzdata", "procps-ng", "iproute2", "kmod", "less", "git", "curl", "shadow"},
		kernel: func(s *spec.Spec) []string {
			if s.Kernel.Version == "latest" {
				return []string{"linux", "linux-firmware"}
			}
			return []string{"linux-lts", "linux-firmware"}
		},
		live:      []string{"dracut", "squashfs-tools"},
		initramfs: "dracut",
		initPkgs: map[spec.InitSystem][]string{
			spec.InitRunit: {"runit-void"},
			spec.InitS6:    {"s6", "s6-rc"},
		},
		adminGroup: "wheel", runitDir: "/etc/runit/runsvdir/default",
		sshService: "sshd", cronService: "cronie", cronPkg: []string{"cronie"},
		updateCmd:   "xbps-install -Syu",
		starshipPkg: true,
		noDocs:      noDocs{files: []keyValue{{"etc/xbps.d/90-linux-builder-nodoc.conf", "# Generated by Linux Builder: no documentation or man pages.\nnoextract=/usr/share/doc/*\nnoextract=/usr/share/man/*\nnoextract=/usr/share/info/*\n"}}},
	},
	spec.BaseGentoo: {
		image: func(_ spec.Release, init spec.InitSystem) string {
			if init == spec.InitSystemd {
				return "gentoo/stage3:systemd"
			}
			return "gentoo/stage3:latest"
		},
		env:     []keyValue{{"LANG", "C.UTF-8"}, {"FEATURES", "-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox"}, {"EMERGE_DEFAULT_OPTS", "--jobs=2 --getbinpkg --usepkg"}},
		prepare: "emerge-webrsync",
		refresh: "true",
		install: "emerge --noreplace --quiet-build=y",
		cleanup: "rm -rf /var/cache/distfiles/* /var/cache/binpkgs/*",
		base:    []string{"app-misc/ca-certificates", "app-admin/sudo", "sys-libs/timezone-data", "sys-process/procps", "sys-apps/iproute2", "sys-apps/kmod", "sys-apps/less", "dev-vcs/git", "net-misc/curl"},
		kernel: func(*spec.Spec) []string {
			return []string{"sys-kernel/gentoo-kernel-bin", "sys-kernel/linux-firmware"}
		},
		live:      []string{"sys-kernel/dracut", "sys-fs/squashfs-tools"},
		initramfs: "dracut",
		initPkgs: map[spec.InitSystem][]string{
			spec.InitOpenRC:  {"sys-apps/openrc"},
			spec.InitSystemd: {"sys-apps/systemd"},
			spec.InitRunit:   {"sys-process/runit"},
			spec.InitS6:      {"sys-apps/s6", "sys-apps/s6-rc"},
		},
		adminGroup: "wheel", runitDir: "/etc/runit/runsvdir/default",
		sshService: "sshd", cronService: "cronie", cronPkg: []string{"sys-process/cronie"},
		updateCmd:   "emerge --sync && emerge --update --deep --newuse @world",
		starshipPkg: true,
		noDocs:      noDocs{prepare: `printf 'INSTALL_MASK="${INSTALL_MASK} /usr/share/doc /usr/share/man /usr/share/info"\n' >> /etc/portage/make.conf`},
	},
}

func trimPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func distroFor(b spec.Base) (*distro, error) {
	d, ok := distros[b]
	if !ok {
		return nil, fmt.Errorf("no distribution %q", b)
	}
	return d, nil
}
