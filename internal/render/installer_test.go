package render

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The installer's configuration and tools follow the filesystem section:
// what an install needs is in the live image, nothing else is, and bases
// without an installer get none.
func TestInstallerFollowsTheFilesystemSection(t *testing.T) {
	tests := []struct {
		name, yaml string
		conf       []string // lines of install.conf
		want       []string // in the Dockerfile
		absent     []string // not in the Dockerfile
		files      []string // in the context
		noFiles    []string
	}{
		{"encrypted btrfs with swap", "base: debian\nfilesystem: {root: btrfs, compression: zstd, snapshots: true, encryption: luks2, partitions: [{mount: swap, size: 10%}]}",
			[]string{"LB_ROOT_FS='btrfs'", "LB_COMPRESSION='zstd'", "LB_SNAPSHOTS='1'", "LB_ENCRYPTION='luks2'", "LB_SWAP='10%'", "LB_PARTITIONS=''", "LB_FIRMWARE='both'"},
			[]string{"export CRYPTSETUP=y && ", "'btrfs-progs'", "'cryptsetup'", "'cryptsetup-initramfs'", "'grub-pc-bin'", "'dosfstools'", "'fdisk'"}, []string{"'xfsprogs'"},
			[]string{"rootfs/etc/initramfs-tools/conf.d/90-linux-builder-cryptsetup", "rootfs/etc/systemd/system/linux-builder-install.service", "rootfs/usr/local/lib/linux-builder/grub-boot-test-gate.cfg"}, nil},
		{"plain ext4 with a home partition", "base: debian\nfilesystem: {partitions: [{mount: /home, size: 20G}, {mount: /boot/efi, size: 1G}, {mount: /, size: rest}]}",
			[]string{"LB_ROOT_FS='ext4'", "LB_ENCRYPTION='none'", "LB_PARTITIONS='/home 20G'", "LB_COMPRESSION=''"},
			[]string{"'grub-pc-bin'"}, []string{"cryptsetup", "CRYPTSETUP", "'btrfs-progs'"},
			[]string{"rootfs/usr/local/sbin/linux-builder-install"}, []string{"rootfs/etc/initramfs-tools/conf.d/90-linux-builder-cryptsetup"}},
		{"systemd-boot for UEFI", "base: debian\ncustomization: {bootloader: systemd-boot}",
			[]string{"LB_BOOTLOADER='systemd-boot'", "LB_FIRMWARE='both'"}, []string{"'systemd-boot'", "'grub-pc-bin'"}, nil,
			[]string{"rootfs/usr/local/lib/linux-builder/boot-test-smbios.conf"}, nil},
		{"systemd-boot needs systemd's kernel-install: GRUB on openrc", "base: debian\ninit: openrc\ncustomization: {bootloader: systemd-boot, firmware: uefi}",
			[]string{"LB_BOOTLOADER='grub'", "LB_FIRMWARE='uefi'"}, nil, nil, nil, []string{"rootfs/usr/local/lib/linux-builder/boot-test-smbios.conf"}},
		{"lvm on luks with snapshots room", "base: debian\nfilesystem: {lvm: true, snapshots: true, encryption: luks2, partitions: [{mount: swap, size: 1G}]}",
			[]string{"LB_LVM='1'", "LB_SNAPSHOTS='1'", "LB_ENCRYPTION='luks2'", "LB_SWAP='1G'"}, []string{"'lvm2'", "'cryptsetup-initramfs'"}, nil, nil, nil},
		{"no lvm2 without lvm", "base: debian", []string{"LB_LVM=''", "LB_SNAPSHOTS=''"}, nil, []string{"'lvm2'"}, nil, nil},
		{"GRUB by default", "base: debian", []string{"LB_BOOTLOADER='grub'"}, nil, []string{"'systemd-boot'"}, nil,
			[]string{"rootfs/usr/local/lib/linux-builder/boot-test-smbios.conf"}},
		{"xfs on ubuntu builds GRUB for UEFI itself", "base: ubuntu\nfilesystem: {root: xfs}\ncustomization: {firmware: uefi}",
			[]string{"LB_ROOT_FS='xfs'", "LB_FIRMWARE='uefi'"}, []string{"'xfsprogs'", "'grub-efi-amd64-bin'"}, nil, nil, nil},
		{"no installer without an ISO", "base: debian\noutputs: [qcow2]", nil, nil, []string{"grub-pc-bin"}, nil,
			[]string{"rootfs/usr/local/sbin/linux-builder-install", "rootfs/etc/linux-builder/install.conf"}},
		{"no installer on arch", "base: arch\nfilesystem: {root: btrfs}", nil, nil, []string{"grub-pc-bin"}, nil,
			[]string{"rootfs/usr/local/sbin/linux-builder-install"}},
		{"no installer for a zfs root", "base: debian\nfilesystem: {root: zfs, partitions: [{mount: /boot, size: 1G, fs: ext4}]}", nil, nil, []string{"grub-pc-bin"}, nil,
			[]string{"rootfs/usr/local/sbin/linux-builder-install"}},
		{"an openrc service installs unattended", "base: debian\ninit: openrc", []string{"LB_ROOT_FS='ext4'", "LB_INIT='openrc'"}, nil, nil,
			[]string{"rootfs/usr/local/sbin/linux-builder-install", "rootfs/usr/local/lib/linux-builder/install-unattended", "rootfs/etc/init.d/linux-builder-install"},
			[]string{"rootfs/etc/systemd/system/linux-builder-install.service"}},
		{"a runit service installs unattended", "base: debian\ninit: runit", []string{"LB_INIT='runit'"}, nil, nil,
			[]string{"rootfs/usr/local/lib/linux-builder/install-unattended", "rootfs/etc/sv/linux-builder-install/run"},
			[]string{"rootfs/etc/systemd/system/linux-builder-install.service"}},
		{"an s6 service installs unattended", "base: debian\ninit: s6", []string{"LB_INIT='s6'"}, nil, nil,
			[]string{"rootfs/usr/local/lib/linux-builder/install-unattended", "rootfs/etc/s6/sv/linux-builder-install/run"},
			[]string{"rootfs/etc/systemd/system/linux-builder-install.service"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := renderYAML(t, tc.yaml, Options{})
			// What the build installs: the system image's packages
			// (system/Dockerfile) and the spec's.
			docker := string(c.File("Dockerfile").Data)
			if f := c.File("system/Dockerfile"); f != nil {
				docker += string(f.Data)
			}
			if len(tc.conf) > 0 {
				f := c.File("rootfs/etc/linux-builder/install.conf")
				if f == nil {
					t.Fatal("no install.conf")
				}
				lines := strings.Split(string(f.Data), "\n")
				for _, w := range tc.conf {
					found := false
					for _, l := range lines {
						found = found || l == w
					}
					if !found {
						t.Errorf("install.conf lacks %q:\n%s", w, f.Data)
					}
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(docker, w) {
					t.Errorf("Dockerfile lacks %s", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(docker, a) {
					t.Errorf("Dockerfile has %s", a)
				}
			}
			for _, p := range tc.files {
				if c.File(p) == nil {
					t.Errorf("no %s", p)
				}
			}
			for _, p := range tc.noFiles {
				if c.File(p) != nil {
					t.Errorf("%s is there", p)
				}
			}
		})
	}
}

// The installer refuses, before it writes anything, a disk it must not
// or cannot install on: not a block device, a partition, a mounted disk,
// a disk too small for the system, an encrypted install without its
// passphrase, and an install nobody confirmed. Each disk is a loop device
// over a file filled with a pattern, which must come out unchanged.
func TestInstallerRefusesBeforeWriting(t *testing.T) {
	if os.Geteuid() != 0 {
		needRoot(t, "the installer's checks read loop devices: run as root")
	}
	for _, tool := range []string{"losetup", "lsblk", "blockdev", "findmnt", "sfdisk", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			needRoot(t, "%s is not installed", tool)
		}
	}
	c := renderYAML(t, "base: debian\nfilesystem: {root: btrfs, encryption: luks2}", Options{})
	dir := t.TempDir()
	script := filepath.Join(dir, "linux-builder-install")
	if err := os.WriteFile(script, c.File("rootfs/usr/local/sbin/linux-builder-install").Data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeConf := func(name string, enc string) string {
		p := filepath.Join(dir, name)
		conf := strings.Replace(string(c.File("rootfs/etc/linux-builder/install.conf").Data), "LB_ENCRYPTION='luks2'", "LB_ENCRYPTION='"+enc+"'", 1)
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	encrypted, plain := writeConf("luks.conf", "luks2"), writeConf("plain.conf", "none")
	// The system to install: 40 MiB.
	source := filepath.Join(dir, "system")
	if err := os.MkdirAll(source, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(source, "blob"), bytes.Repeat([]byte("x"), 40<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// The live medium's kernel and initramfs, which an install copies.
	writeMedium := func(medium string) {
		if err := os.MkdirAll(filepath.Join(medium, "boot"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"vmlinuz", "initrd.img"} {
			if err := os.WriteFile(filepath.Join(medium, "boot", f), []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeMedium(filepath.Join(dir, "medium"))
	// Each disk is sparse but for a pattern over its first and last 8 MiB,
	// where partition tables, signatures and file systems start.
	pattern := bytes.Repeat([]byte("linux-builder!"), (8<<20)/14)
	loop := func(t *testing.T, size int64) (dev, backing string) {
		t.Helper()
		backing = filepath.Join(t.TempDir(), "disk")
		f, err := os.Create(backing)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, size - int64(len(pattern))} {
			if _, err := f.WriteAt(pattern, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "--find", "--show", "--partscan", backing).Output()
		if err != nil {
			t.Fatalf("losetup: %v", err)
		}
		dev = strings.TrimSpace(string(out))
		t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
		return dev, backing
	}
	// mountedLoop is a loop disk holding one ext4 file system, mounted.
	mountedLoop := func(t *testing.T) (dev, mnt string) {
		t.Helper()
		dev, _ = loop(t, 3<<30)
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
			t.Fatalf("mkfs: %v: %s", err, out)
		}
		mnt = t.TempDir()
		if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
		return dev, mnt
	}
	unchanged := func(t *testing.T, backing string) {
		t.Helper()
		f, err := os.Open(backing)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(pattern))
		for _, off := range []int64{0, info.Size() - int64(len(pattern))} {
			if _, err := f.ReadAt(got, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pattern) {
				t.Fatalf("the disk was written near byte %d", off)
			}
		}
	}
	medium := filepath.Join(dir, "medium")
	// secret writes a key or password file and returns its path.
	secret := func(t *testing.T, name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The installer's lock (one install at a time), here rather than in
	// the host's /run; a refused install leaves none behind.
	lock := filepath.Join(dir, "install.lock")
	lockEnv := "LB_INSTALL_LOCK=" + lock
	install := func(t *testing.T, conf string, args ...string) string {
		t.Helper()
		_, err := os.Stat(lock)
		held := err == nil
		cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "LB_INSTALL_CONF="+conf, "LB_INSTALL_SOURCE="+source, "LB_INSTALL_MEDIUM="+medium, lockEnv)
		cmd.Stdin = nil
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the installer succeeded:\n%s", out)
		}
		if _, err := os.Stat(lock); (err == nil) != held {
			t.Errorf("the lock was held before: %v; after: %v", held, err == nil)
		}
		return string(out)
	}

	t.Run("not a block device", func(t *testing.T) {
		out := install(t, plain, "--disk", filepath.Join(source, "blob"), "--yes")
		if !strings.Contains(out, "give the disk's device path") && !strings.Contains(out, "is not a block device") {
			t.Errorf("got %s", out)
		}
		out = install(t, plain, "--disk", "/dev/null", "--yes")
		if !strings.Contains(out, "/dev/null is not a block device") {
			t.Errorf("got %s", out)
		}
	})
	t.Run("systemd-boot missing", func(t *testing.T) {
		// A UEFI install with systemd-boot needs the live system's
		// systemd-boot and its bootctl and kernel-install: without them
		// (this host has no systemd-boot EFI binary) nothing is written.
		if _, err := os.Stat("/usr/lib/systemd/boot/efi/systemd-bootx64.efi"); err == nil {
			t.Fatal("this host has systemd-boot: the refusal cannot be seen here")
		}
		conf := filepath.Join(dir, "sdboot.conf")
		body := strings.Replace(string(c.File("rootfs/etc/linux-builder/install.conf").Data), "LB_BOOTLOADER='grub'", "LB_BOOTLOADER='systemd-boot'", 1)
		if !strings.Contains(body, "LB_BOOTLOADER='systemd-boot'") {
			t.Fatalf("install.conf has no LB_BOOTLOADER='grub':\n%s", body)
		}
		if err := os.WriteFile(conf, []byte(strings.Replace(body, "LB_ENCRYPTION='luks2'", "LB_ENCRYPTION='none'", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		dev, backing := loop(t, 3<<30)
		out := install(t, conf, "--disk", dev, "--yes")
		if !strings.Contains(out, "nothing was written") || (!strings.Contains(out, "systemd-boot") && !strings.Contains(out, "bootctl") && !strings.Contains(out, "kernel-install")) {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
		// An unknown boot loader is refused too.
		if err := os.WriteFile(conf, []byte(strings.Replace(body, "LB_BOOTLOADER='systemd-boot'", "LB_BOOTLOADER='lilo'", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := install(t, conf, "--disk", dev, "--yes"); !strings.Contains(out, "unknown boot loader lilo") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("too small", func(t *testing.T) {
		dev, backing := loop(t, 64<<20)
		out := install(t, plain, "--disk", dev, "--yes")
		if !strings.Contains(out, dev+" is too small") || !strings.Contains(out, "nothing was written") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("a partition", func(t *testing.T) {
		dev, _ := loop(t, 3<<30)
		cmd := exec.Command("sfdisk", "-q", dev)
		cmd.Stdin = strings.NewReader("label: gpt\nsize=100MiB\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v: %s", err, out)
		}
		_ = exec.Command("partx", "-u", dev).Run()
		part := dev + "p1"
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(part); err == nil {
				break
			}
			_ = exec.Command("udevadm", "settle").Run()
		}
		if _, err := os.Stat(part); err != nil {
			t.Fatalf("no %s: %v", part, err)
		}
		out := install(t, plain, "--disk", part, "--yes")
		if !strings.Contains(out, part+" is not a whole disk") {
			t.Errorf("got %s", out)
		}
	})
	t.Run("mounted", func(t *testing.T) {
		dev, mnt := mountedLoop(t)
		out := install(t, plain, "--disk", dev, "--yes")
		if !strings.Contains(out, dev+" is mounted") || !strings.Contains(out, "nothing was written") {
			t.Errorf("got %s", out)
		}
		if out, err := exec.Command("findmnt", "-n", mnt).Output(); err != nil || len(out) == 0 {
			t.Errorf("the file system was unmounted")
		}
	})
	t.Run("no passphrase", func(t *testing.T) {
		dev, backing := loop(t, 3<<30)
		out := install(t, encrypted, "--disk", dev, "--yes")
		if !strings.Contains(out, "give the passphrase as a file") {
			t.Errorf("got %s", out)
		}
		out = install(t, encrypted, "--disk", dev, "--yes", "--key-file", filepath.Join(dir, "missing.key"))
		if !strings.Contains(out, "missing.key is missing") {
			t.Errorf("got %s", out)
		}
		empty := secret(t, "empty.key", "")
		out = install(t, encrypted, "--disk", dev, "--yes", "--key-file", empty)
		if !strings.Contains(out, "empty.key is empty") {
			t.Errorf("got %s", out)
		}
		// Saved on Windows: a passphrase ending in a carriage return
		// could never be typed at the boot prompt.
		crlf := secret(t, "crlf.key", "secret\r\n")
		out = install(t, encrypted, "--disk", dev, "--yes", "--key-file", crlf)
		if !strings.Contains(out, "crlf.key: a control character") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("the live medium", func(t *testing.T) {
		dev, mnt := mountedLoop(t)
		writeMedium(mnt)
		cmd := exec.Command("/bin/sh", script, "--disk", dev, "--yes")
		cmd.Env = append(os.Environ(), "LB_INSTALL_CONF="+plain, "LB_INSTALL_SOURCE="+source, "LB_INSTALL_MEDIUM="+mnt, lockEnv)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), dev+" holds the live system") {
			t.Errorf("%v: %s", err, out)
		}
	})
	t.Run("a link to the disk", func(t *testing.T) {
		// /dev/disk/by-id/... names: the checks see the device itself.
		dev, backing := loop(t, 64<<20)
		link := filepath.Join(t.TempDir(), "by-id-disk")
		if err := os.Symlink(dev, link); err != nil {
			t.Fatal(err)
		}
		out := install(t, plain, "--disk", link, "--yes")
		if !strings.Contains(out, dev+" is too small") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("an empty password file", func(t *testing.T) {
		dev, backing := loop(t, 3<<30)
		empty := secret(t, "empty.password", "\n")
		out := install(t, plain, "--disk", dev, "--yes", "--password-file", empty)
		if !strings.Contains(out, "empty.password is empty") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("the only account without a password", func(t *testing.T) {
		// The spec has no users: the installed console user needs one.
		dev, backing := loop(t, 3<<30)
		out := install(t, plain, "--disk", dev, "--yes")
		if !strings.Contains(out, "no password for live") || !strings.Contains(out, "nothing was written") {
			t.Errorf("got %s", out)
		}
		twoLines := secret(t, "two-lines.password", "secret\nmore\n")
		out = install(t, plain, "--disk", dev, "--yes", "--password-file", twoLines)
		if !strings.Contains(out, "more than one line") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("not confirmed", func(t *testing.T) {
		dev, backing := loop(t, 3<<30)
		password := secret(t, "good.password", "secret\n")
		out := install(t, plain, "--disk", dev, "--password-file", password)
		if !strings.Contains(out, "not confirmed") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("another install running", func(t *testing.T) {
		// The unattended install holds the lock: a user's sudo (or the
		// service run again) stops before any check, and leaves the
		// other's lock and disk alone.
		if err := os.Mkdir(lock, 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(lock)
		dev, backing := loop(t, 3<<30)
		password := secret(t, "good.password", "secret\n")
		out := install(t, plain, "--disk", dev, "--yes", "--password-file", password)
		if !strings.Contains(out, "another linux-builder-install is running") {
			t.Errorf("got %s", out)
		}
		unchanged(t, backing)
	})
	t.Run("not live", func(t *testing.T) {
		cmd := exec.Command("/bin/sh", script, "--disk", "/dev/null", "--yes")
		cmd.Env = append(os.Environ(), "LB_INSTALL_CONF="+plain, "LB_INSTALL_SOURCE="+filepath.Join(dir, "nowhere"), lockEnv)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "run me on the live system") {
			t.Errorf("%v: %s", err, out)
		}
	})
}

// needRoot fails under CI=true (CI runs as root with util-linux) and
// skips elsewhere.
func needRoot(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
