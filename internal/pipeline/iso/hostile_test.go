package iso

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// ent is one entry of a hand-made image export.
type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	size             int64 // declared size with a zero body (a huge file); 0: len(body)
	major            int64
}

// tarExporter "exports" a hand-made image.
type tarExporter struct{ entries []ent }

func (x tarExporter) Export(_ context.Context, _ string, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range x.entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Devmajor: e.major}
		var body io.Reader = strings.NewReader(e.body)
		switch {
		case e.typ == tar.TypeReg && e.size > 0:
			hdr.Size, body = e.size, zeros{}
		case e.typ == tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Size > 0 {
			if _, err := io.CopyN(tw, body, hdr.Size); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func dir(name string) ent          { return ent{name: name + "/", typ: tar.TypeDir, mode: 0o755} }
func reg(name, body string) ent    { return ent{name: name, typ: tar.TypeReg, body: body} }
func symlink(name, to string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent { return ent{name: name, typ: tar.TypeLink, link: to} }

const bootFiles = "KERNEL=/boot/vmlinuz-6.1.0-amd64\nINITRD=/boot/initrd.img-6.1.0-amd64\nINITRAMFS=initramfs-tools\nINIT=systemd\n"

// image is a small, well-formed export with the given entries replacing
// (same name) or added to the base ones.
func image(changes ...ent) []ent {
	base := []ent{
		dir("bin"), reg("bin/sh", "#!shell"), dir("etc"), reg("etc/machine-id", "0123456789abcdef\n"),
		reg("etc/hostname", "\n"), reg("etc/hosts", "\n"), dir("etc/linux-builder"),
		reg("etc/linux-builder/boot-files", bootFiles), reg("etc/linux-builder/kernel-cmdline", "quiet apparmor=1\n"),
		reg("etc/linux-builder/hostname", "box\n"), dir("etc/systemd"), dir("etc/systemd/system"),
		dir("etc/systemd/system/multi-user.target.wants"), dir("boot"),
		reg("boot/vmlinuz-6.1.0-amd64", "KERNEL-BYTES"), reg("boot/initrd.img-6.1.0-amd64", "INITRD-BYTES"),
		dir("tmp"), reg("tmp/leftover", "x"), dir("proc"), dir("sys"), dir("run"), dir("dev"),
		reg(".dockerenv", ""),
	}
	var out []ent
	replaced := map[string]bool{}
	for _, b := range base {
		for _, c := range changes {
			if strings.TrimSuffix(c.name, "/") == strings.TrimSuffix(b.name, "/") {
				if !replaced[c.name] {
					out = append(out, c)
				}
				replaced[c.name] = true
			}
		}
		if !replaced[b.name] && !replaced[strings.TrimSuffix(b.name, "/")] {
			out = append(out, b)
		}
	}
	for _, c := range changes {
		if !replaced[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// host is what the host has outside the run's directory: a victim file
// and directory, and a secret in the bot's environment.
type host struct {
	dir, file, subdir, envCanary string
	before                       map[string]string
}

func newHost(t *testing.T) *host {
	h := &host{dir: t.TempDir(), envCanary: fmt.Sprintf("ENV-CANARY-%d", os.Getpid())}
	h.file, h.subdir = filepath.Join(h.dir, "victim"), filepath.Join(h.dir, "victimdir")
	if err := os.WriteFile(h.file, []byte("HOST-CANARY-FILE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.subdir, "keep"), []byte("HOST-CANARY-DIR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LINUX_BUILDER_TEST_SECRET", h.envCanary)
	h.before = snapshot(t, h.dir)
	return h
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			v += " -> " + l
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check fails when the host changed or the ISO holds a host byte.
func (h *host) check(t *testing.T, iso string) {
	t.Helper()
	after := snapshot(t, h.dir)
	for p, v := range h.before {
		if after[p] != v {
			t.Errorf("host file %s changed: %q → %q", p, v, after[p])
		}
	}
	for p := range after {
		if _, ok := h.before[p]; !ok {
			t.Errorf("host file %s was created", p)
		}
	}
	if iso == "" {
		return
	}
	for name, body := range isoFiles(t, iso) {
		for _, canary := range []string{"HOST-CANARY-FILE", "HOST-CANARY-DIR", h.envCanary} {
			if strings.Contains(body, canary) {
				t.Errorf("the ISO's %s holds the host's %s", name, canary)
			}
		}
	}
}

// isoFiles reads every file of the ISO, and of the squashfs in it, by
// the tools' own extraction (xorriso, sqfs2tar): name → contents, and
// name → "-> target" for links.
func isoFiles(t *testing.T, iso string) map[string]string {
	t.Helper()
	out := t.TempDir()
	if b, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", out).CombinedOutput(); err != nil {
		t.Fatalf("xorriso extract: %v: %s", err, b)
	}
	files := map[string]string{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		files["iso:"+rel] = string(b)
		if strings.HasSuffix(p, ".squashfs") || strings.HasSuffix(p, "squashfs.img") {
			for k, v := range squashFiles(t, p) {
				files["squashfs:"+k] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func squashFiles(t *testing.T, sqfs string) map[string]string {
	t.Helper()
	raw, err := exec.Command("sqfs2tar", sqfs).Output()
	if err != nil {
		t.Fatalf("sqfs2tar: %v", err)
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("read sqfs2tar's output: %v", err)
		}
		hdr.Name = strings.TrimSuffix(hdr.Name, "/")
		switch hdr.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			files[hdr.Name] = "-> " + hdr.Linkname
		case tar.TypeDir:
			files[hdr.Name] = "dir"
		default:
			b, _ := io.ReadAll(tr)
			files[hdr.Name] = fmt.Sprintf("%c %s", hdr.Typeflag, b)
		}
	}
}

func buildISO(t *testing.T, entries []ent, marker string) (string, error) {
	t.Helper()
	return buildISOLog(t, entries, marker, nil)
}

// buildISOLog is buildISO keeping the step's log lines in lines.
func buildISOLog(t *testing.T, entries []ent, marker string, lines *[]string) (string, error) {
	t.Helper()
	run := t.TempDir()
	out := filepath.Join(run, "linux.iso")
	b := &Builder{Exporter: tarExporter{entries: entries}}
	err := b.Build(context.Background(), pipeline.ISORequest{Image: "img", Output: out, VolumeID: "LINUXBUILDER", Marker: marker}, func(l string) {
		if lines != nil {
			*lines = append(*lines, l)
		}
	})
	left, _ := os.ReadDir(run)
	for _, e := range left {
		if e.Name() != "linux.iso" {
			t.Errorf("the run directory kept %s", e.Name())
		}
	}
	if err != nil {
		return "", err
	}
	return out, nil
}

func TestWellFormedImage(t *testing.T) {
	h := newHost(t)
	out, err := buildISO(t, image(
		ent{name: "usr/bin/ping", typ: tar.TypeReg, body: "PING", mode: 0o4755},
		hardlink("bin/sh2", "bin/sh"),
		symlink("vmlinuz", "boot/vmlinuz-6.1.0-amd64"),
	), "LINUX-BUILDER-BOOT-OK run=1")
	if err != nil {
		t.Fatal(err)
	}
	h.check(t, out)
	files := isoFiles(t, out)
	want := map[string]string{
		"iso:boot/vmlinuz":        "KERNEL-BYTES",
		"iso:boot/initrd.img":     "INITRD-BYTES",
		"squashfs:etc/hostname":   "0 box\n",
		"squashfs:etc/machine-id": "0 ",
		"squashfs:bin/sh2":        "-> bin/sh",
		"squashfs:vmlinuz":        "-> boot/vmlinuz-6.1.0-amd64",
		"squashfs:etc/systemd/system/multi-user.target.wants/linux-builder-boot-marker.service": "-> /etc/systemd/system/linux-builder-boot-marker.service",
		"squashfs:tmp":  "dir",
		"squashfs:boot": "dir",
	}
	for k, v := range want {
		if got, ok := files[k]; !ok || got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, gone := range []string{"squashfs:tmp/leftover", "squashfs:.dockerenv", "squashfs:boot/vmlinuz-6.1.0-amd64"} {
		if _, ok := files[gone]; ok {
			t.Errorf("%s is in the live system", gone)
		}
	}
	if !strings.Contains(files["iso:boot/grub/grub.cfg"], "boot=live components console=tty0 console=ttyS0,115200n8 panic=10 quiet apparmor=1") {
		t.Errorf("grub.cfg:\n%s", files["iso:boot/grub/grub.cfg"])
	}
	if !strings.Contains(files["squashfs:etc/systemd/system/linux-builder-boot-marker.service"], "LINUX-BUILDER-BOOT-OK run=1") {
		t.Errorf("no marker unit in the live system")
	}
}

// TestHostileImages are the attacks of the security review, one image
// each: whatever the step makes of them, nothing outside the run's
// directory changes and no host byte reaches the ISO.
func TestHostileImages(t *testing.T) {
	const sixGiB = 6 << 30
	cases := []struct {
		name    string
		entries func(h *host) []ent
		fails   string // substring of the error; "" when the build succeeds
	}{
		{name: "machine-id is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("etc/machine-id", h.file)) }},
		{name: "tmp is a symlink to a host directory",
			entries: func(h *host) []ent { return without(image(symlink("tmp", h.subdir)), "tmp/") }},
		{name: "boot is a symlink to a host directory",
			entries: func(h *host) []ent {
				return without(image(symlink("boot", h.subdir)), "boot/")
			}, fails: "KERNEL"},
		{name: "etc/systemd/system is a symlink to a host directory",
			entries: func(h *host) []ent {
				return without(image(symlink("etc/systemd/system", h.subdir)), "etc/systemd/system/")
			}},
		{name: "the kernel is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("boot/vmlinuz-6.1.0-amd64", h.file)) }, fails: "KERNEL"},
		{name: "the initrd is a relative symlink climbing to the bot's environment",
			entries: func(h *host) []ent {
				return image(symlink("boot/initrd.img-6.1.0-amd64", "../../../../../../../proc/self/environ"))
			}, fails: "INITRD"},
		{name: "boot-files names a kernel outside /boot",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/boot-files", strings.Replace(bootFiles, "/boot/vmlinuz-6.1.0-amd64", "/boot/../../../.."+h.file, 1)))
			}, fails: "want /boot/<file name>"},
		{name: "boot-files names /proc/self/environ",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/boot-files", strings.Replace(bootFiles, "/boot/vmlinuz-6.1.0-amd64", "/proc/self/environ", 1)))
			}, fails: "want /boot/<file name>"},
		{name: "boot-files is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("etc/linux-builder/boot-files", h.file)) }, fails: "boot-files"},
		{name: "kernel-cmdline is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("etc/linux-builder/kernel-cmdline", h.file)) }},
		{name: "kernel-cmdline injects GRUB script",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/kernel-cmdline", "quiet\n}\nmenuentry x { linux /boot/vmlinuz init=/bin/sh\n"))
			}, fails: "kernel-cmdline"},
		{name: "kernel-cmdline with a GRUB variable",
			entries: func(h *host) []ent { return image(reg("etc/linux-builder/kernel-cmdline", "quiet $prefix\n")) },
			fails:   "kernel-cmdline"},
		{name: "kernel-cmdline arms the boot-test marker on users' machines",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/kernel-cmdline", "quiet linux-builder.boot-test\n"))
			},
			fails: "reserved"},
		{name: "kernel-cmdline erases a disk at every boot (the installer's lb.install)",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/kernel-cmdline", "quiet LB.Install=/dev/sda\n"))
			}, fails: "reserved"},
		{name: "kernel-cmdline carries the boot test's words",
			entries: func(h *host) []ent {
				return image(reg("etc/linux-builder/kernel-cmdline", "loglevel=6 x=secureboot: Secure boot enabled Linux-Builder.x=1\n"))
			}, fails: "reserved"},
		{name: "the hostname record is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("etc/linux-builder/hostname", h.file)) }},
		{name: "the hostname record is not a host name",
			entries: func(h *host) []ent { return image(reg("etc/linux-builder/hostname", "a b\n127.0.0.1 github.com\n")) },
			fails:   "hostname"},
		{name: "etc/hostname is a symlink to a host file",
			entries: func(h *host) []ent { return image(symlink("etc/hostname", h.file)) }},
		{name: "the kernel is a block device",
			entries: func(h *host) []ent {
				return image(ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeBlock, major: 8, mode: 0o600})
			}, fails: "KERNEL"},
		{name: "device nodes, FIFOs and hard links to outside names are dropped",
			entries: func(h *host) []ent {
				return image(ent{name: "dev/sda", typ: tar.TypeBlock, major: 8}, ent{name: "root/mem", typ: tar.TypeChar, major: 1},
					ent{name: "root/fifo", typ: tar.TypeFifo}, hardlink("root/passwd", "../../../.."+h.file), hardlink("root/abs", h.file),
					hardlink("root/later", "zz-not-yet"))
			}},
		{name: "names climbing out of the root",
			entries: func(h *host) []ent {
				return image(reg("../../../../"+strings.TrimPrefix(h.file, "/"), "OVERWRITTEN"), reg("/"+strings.TrimPrefix(h.file, "/")+"/../x", "Y"))
			}},
		{name: "the kernel is a hard link to a host file",
			entries: func(h *host) []ent { return image(hardlink("boot/vmlinuz-6.1.0-amd64", h.file)) }, fails: "KERNEL"},
		{name: "a 6 GiB kernel",
			entries: func(h *host) []ent {
				return image(ent{name: "boot/vmlinuz-6.1.0-amd64", typ: tar.TypeReg, size: sixGiB})
			}, fails: "over the limit"},
		{name: "symlink loop as the kernel",
			entries: func(h *host) []ent {
				return image(symlink("boot/vmlinuz-6.1.0-amd64", "vmlinuz-b"), symlink("boot/vmlinuz-b", "vmlinuz-6.1.0-amd64"))
			}, fails: "symbolic links"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			out, err := buildISO(t, tc.entries(h), "LINUX-BUILDER-BOOT-OK run=7")
			switch {
			case tc.fails == "" && err != nil:
				t.Fatalf("the build failed: %v", err)
			case tc.fails != "" && err == nil:
				t.Errorf("the build succeeded; want an error with %q", tc.fails)
			case tc.fails != "" && !strings.Contains(err.Error(), tc.fails):
				t.Errorf("error %q; want one with %q", err, tc.fails)
			}
			h.check(t, out)
			if out == "" {
				return
			}
			files := isoFiles(t, out)
			if files["iso:boot/vmlinuz"] != "KERNEL-BYTES" {
				t.Errorf("the ISO's kernel is %q", clip(files["iso:boot/vmlinuz"]))
			}
			for name, body := range files {
				if strings.HasPrefix(body, "b ") || strings.HasPrefix(body, "c ") || strings.HasPrefix(body, "p ") {
					t.Errorf("the live system has the device or FIFO %s", name)
				}
				if strings.Contains(body, "OVERWRITTEN") {
					t.Errorf("%s: a name outside the root was written", name)
				}
			}
		})
	}
}

// without drops the entries under prefix (a symlink has no children).
func without(entries []ent, prefix string) []ent {
	var out []ent
	for _, e := range entries {
		if !strings.HasPrefix(e.name, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// hostKeyImage is an image whose build left SSH host keys in (a
// postInstall script made them again after the Dockerfile removed them):
// a private and a public key, a key that is a symbolic link to another,
// a hard link and symbolic links elsewhere naming the key, a directory
// under a host key's name, beside the SSH server's configuration.
func hostKeyImage() []ent {
	return image(
		dir("etc/ssh"), reg("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n"),
		ent{name: "etc/ssh/ssh_host_ed25519_key", typ: tar.TypeReg, body: "HOST-PRIVATE-KEY", mode: 0o600},
		reg("etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA-HOST-PUBLIC-KEY"),
		symlink("etc/ssh/ssh_host_rsa_key", "ssh_host_ed25519_key"),
		dir("etc/ssh/ssh_host_keys.d"), reg("etc/ssh/ssh_host_keys.d/old", "HOST-PRIVATE-KEY"),
		dir("root"), hardlink("root/stolen", "etc/ssh/ssh_host_ed25519_key"),
		symlink("root/absolute", "/etc/ssh/ssh_host_ed25519_key"),
		symlink("root/relative", "../../../etc/ssh/./ssh_host_ed25519_key"),
		symlink("root/config", "/etc/ssh/sshd_config"),
	)
}

// checkNoHostKeys fails when an installed or live system's entries (name
// → body, "-> target" for links) hold a host key or a link to one, or
// lost the SSH server's configuration.
func checkNoHostKeys(t *testing.T, files map[string]string, prefix string) {
	t.Helper()
	for name, body := range files {
		n := strings.TrimPrefix(name, prefix)
		if strings.HasPrefix(n, "etc/ssh/ssh_host_") || strings.Contains(body, "HOST-PRIVATE-KEY") ||
			strings.Contains(body, "HOST-PUBLIC-KEY") || strings.Contains(body, "ssh_host_") ||
			n == "root/stolen" || n == "root/absolute" || n == "root/relative" {
			t.Errorf("%s is in the system: %q", name, body)
		}
	}
	if !strings.Contains(files[prefix+"etc/ssh/sshd_config"], "Include /etc/ssh/sshd_config.d/*.conf") ||
		!strings.HasSuffix(files[prefix+"root/config"], "/etc/ssh/sshd_config") {
		t.Errorf("the SSH server's configuration or a link to it is gone: %q, %q",
			files[prefix+"etc/ssh/sshd_config"], files[prefix+"root/config"])
	}
}

// droppedHostKeys is the reason the steps give for the host keys.
const droppedHostKeys = "dropped 8 entries of the image: an SSH host key or a link to one"

// No SSH host key of the image reaches the live system, by any name or
// link: each machine makes its own at boot.
func TestHostKeysAreLeftOut(t *testing.T) {
	var lines []string
	out, err := buildISOLog(t, hostKeyImage(), "", &lines)
	if err != nil {
		t.Fatal(err)
	}
	checkNoHostKeys(t, isoFiles(t, out), "squashfs:")
	if log := strings.Join(lines, "\n"); !strings.Contains(log, "iso: "+droppedHostKeys) {
		t.Errorf("the log does not say why the host keys were dropped:\n%s", log)
	}
}

// The installed system (the disk step's) leaves them out as well.
func TestInstalledSystemHasNoHostKeys(t *testing.T) {
	sys, hdrs, bodies, err := installedTar(t, hostKeyImage(), InstalledOptions{Fstab: testFstab})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for name, h := range hdrs {
		files[name] = bodies[name]
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			files[name] = "-> " + h.Linkname
		}
	}
	checkNoHostKeys(t, files, "")
	if reason := strings.TrimPrefix(droppedHostKeys, "dropped 8 entries of the image: "); sys.Dropped[reason] != 8 {
		t.Errorf("dropped %v; want 8 for %q", sys.Dropped, reason)
	}
}
