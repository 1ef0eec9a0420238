// Package iso turns a built image into a hybrid BIOS + UEFI live ISO with
// host tools: GNU tar unpacks the image's exported file system,
// mksquashfs compresses it, grub-mkrescue (xorriso) writes the ISO. They
// come from Debian's packages (tar, squashfs-tools, grub-common,
// grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools), installed by
// scripts/setup.sh; the unpacking needs root to keep owners and devices.
package iso

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// Exporter streams an image's root file system as a tar.
type Exporter interface {
	Export(ctx context.Context, imageID string, w io.Writer) error
}

// Builder makes ISOs.
type Builder struct {
	Exporter Exporter
	// CompressionLevel is mksquashfs's zstd level; default 3.
	CompressionLevel int
}

var _ pipeline.ISOBuilder = (*Builder)(nil)

// Build writes req.Output. Its work directory sits beside the output and
// is removed in every case.
func (b *Builder) Build(ctx context.Context, req pipeline.ISORequest, log func(string)) error {
	level := b.CompressionLevel
	if level == 0 {
		level = 3
	}
	work, err := os.MkdirTemp(filepath.Dir(req.Output), ".iso-work-")
	if err != nil {
		return fmt.Errorf("iso work directory: %w", err)
	}
	defer os.RemoveAll(work)
	root, tree := filepath.Join(work, "root"), filepath.Join(work, "iso")
	for _, d := range []string{root, filepath.Join(tree, "boot", "grub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("iso work directory: %w", err)
		}
	}

	start := time.Now()
	if err := b.unpack(ctx, req.Image, root); err != nil {
		return err
	}
	log(fmt.Sprintf("iso: unpacked the image in %s", time.Since(start).Round(100*time.Millisecond)))
	boot, err := readKV(filepath.Join(root, "etc/linux-builder/boot-files"))
	if err != nil {
		return fmt.Errorf("the image has no boot-files record (was it rendered by Linux Builder?): %w", err)
	}
	cmdline, err := os.ReadFile(filepath.Join(root, "etc/linux-builder/kernel-cmdline"))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("kernel command line: %w", err)
	}
	if err := prepareRoot(root, boot["INIT"], req.Marker); err != nil {
		return err
	}

	var liveArgs, squashfs string
	switch boot["INITRAMFS"] {
	case "initramfs-tools":
		liveArgs, squashfs = "boot=live components", "live/filesystem.squashfs"
	case "dracut":
		liveArgs, squashfs = "root=live:CDLABEL="+req.VolumeID+" rd.live.image", "LiveOS/squashfs.img"
	default:
		return fmt.Errorf("live boot with the %q initramfs is not supported yet", boot["INITRAMFS"])
	}
	if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(squashfs)), 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{boot["KERNEL"]: "boot/vmlinuz", boot["INITRD"]: "boot/initrd.img"} {
		if err := copyFile(filepath.Join(root, src), filepath.Join(tree, dst)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	// The live system needs no kernel files in /boot, nor the contents of
	// the API file systems it mounts at boot.
	for _, d := range []string{"boot", "proc", "sys", "run", "tmp"} {
		if err := emptyDir(filepath.Join(root, d)); err != nil {
			return err
		}
	}

	start = time.Now()
	if out, err := exec.CommandContext(ctx, "mksquashfs", root, filepath.Join(tree, squashfs),
		"-comp", "zstd", "-Xcompression-level", fmt.Sprint(level), "-noappend", "-quiet", "-no-progress").CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs: %w: %s", err, lastLines(out, 5))
	}
	log(fmt.Sprintf("iso: squashfs in %s", time.Since(start).Round(100*time.Millisecond)))

	cfg := grubConfig(req.VolumeID, liveArgs, strings.TrimSpace(string(cmdline)), boot["INIT"])
	if err := os.WriteFile(filepath.Join(tree, "boot/grub/grub.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("grub.cfg: %w", err)
	}
	start = time.Now()
	tmpISO := req.Output + ".part"
	defer os.Remove(tmpISO)
	if out, err := exec.CommandContext(ctx, "grub-mkrescue", "-o", tmpISO, tree, "--", "-volid", req.VolumeID).CombinedOutput(); err != nil {
		return fmt.Errorf("grub-mkrescue: %w: %s", err, lastLines(out, 5))
	}
	if err := os.Rename(tmpISO, req.Output); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	log(fmt.Sprintf("iso: grub-mkrescue in %s", time.Since(start).Round(100*time.Millisecond)))
	return nil
}

// unpack streams the image's export into GNU tar.
func (b *Builder) unpack(ctx context.Context, image, root string) error {
	cmd := exec.CommandContext(ctx, "tar", "-x", "-C", root, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-f", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tar: %w", err)
	}
	exportErr := b.Exporter.Export(ctx, image, stdin)
	stdin.Close()
	waitErr := cmd.Wait()
	if exportErr != nil {
		return fmt.Errorf("export image: %w", exportErr)
	}
	if waitErr != nil {
		return fmt.Errorf("unpack image: %w: %s", waitErr, lastLines(stderr.Bytes(), 5))
	}
	return nil
}

// prepareRoot turns a container's file system into a live system's:
// no Docker traces, a fresh machine id, the spec's host name, and the
// boot-test marker when asked.
func prepareRoot(root, init, marker string) error {
	_ = os.Remove(filepath.Join(root, ".dockerenv"))
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
		return fmt.Errorf("machine-id: %w", err)
	}
	host := "linux-builder"
	if b, err := os.ReadFile(filepath.Join(root, "etc/linux-builder/hostname")); err == nil && strings.TrimSpace(string(b)) != "" {
		host = strings.TrimSpace(string(b))
	}
	// Docker leaves empty hostname, hosts and resolv.conf placeholders.
	_ = os.Remove(filepath.Join(root, "etc/hostname"))
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte(host+"\n"), 0o644); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	_ = os.Remove(filepath.Join(root, "etc/hosts"))
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + host + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	if marker == "" {
		return nil
	}
	switch init {
	case "systemd":
		unit := "[Unit]\nDescription=Linux Builder boot test marker\nAfter=multi-user.target\n\n[Service]\nType=oneshot\n" +
			"ExecStart=/bin/sh -c 'echo " + marker + " > /dev/ttyS0; systemctl --no-block poweroff'\n\n[Install]\nWantedBy=multi-user.target\n"
		dir := filepath.Join(root, "etc/systemd/system")
		if err := os.MkdirAll(filepath.Join(dir, "multi-user.target.wants"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "linux-builder-boot-marker.service"), []byte(unit), 0o644); err != nil {
			return err
		}
		link := filepath.Join(dir, "multi-user.target.wants", "linux-builder-boot-marker.service")
		_ = os.Remove(link)
		return os.Symlink("/etc/systemd/system/linux-builder-boot-marker.service", link)
	case "openrc":
		dir := filepath.Join(root, "etc/local.d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		script := "#!/bin/sh\necho '" + marker + "' > /dev/ttyS0\npoweroff\n"
		return os.WriteFile(filepath.Join(dir, "zz-linux-builder-boot-marker.start"), []byte(script), 0o755)
	default:
		return fmt.Errorf("the boot-test marker is not supported for init %q", init)
	}
}

func grubConfig(volid, liveArgs, cmdline, init string) string {
	args := strings.TrimSpace(liveArgs + " console=tty0 console=ttyS0,115200n8 panic=10 " + cmdline)
	return fmt.Sprintf(`# Generated by Linux Builder.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=3
set default=0

search --no-floppy --set=root --label %s

menuentry "Linux Builder live (%s)" {
	linux /boot/vmlinuz %s
	initrd /boot/initrd.img
}
`, volid, init, args)
}

func readKV(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m, sc.Err()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
