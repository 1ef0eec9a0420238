package boot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/linux-builder/linux-builder/internal/proc"
	"github.com/linux-builder/linux-builder/internal/sparse"
)

// InstallWriteBytesPerSecond caps the install machine's writes to its
// disk (QEMU's block throttling): an install writes the system once, a
// few gigabytes; the disk's size bounds the total.
const InstallWriteBytesPerSecond = 64 << 20

// maxLiveBootFile bounds the kernel and the initramfs read from the ISO.
const maxLiveBootFile = 512 << 20

// installCmdline boots the live system (initramfs-tools' live-boot: the
// installer is carried by Debian's and Ubuntu's systems only) with the
// unattended install on the machine's one virtio disk, as a disk image
// (its console user stays as on the live system), on the serial console.
// A kernel that panics reboots, which ends the machine (-no-reboot).
const installCmdline = "boot=live components console=ttyS0,115200n8 panic=10 lb.install=/dev/vda lb.install.image"

// Install deadlines: the whole install (less when the caller's context
// ends sooner: installMargin is left for the disk's conversion and the
// run's report), and the live system's first installer line (a system
// that never starts the installer is stopped then, not waited for).
const (
	installTimeout    = 30 * time.Minute
	installMargin     = 5 * time.Minute
	installTooLateMsg = "the install did not finish within %s"
)

// installFirstLine is how long the live system has to print its first
// installer line (a variable for tests).
var installFirstLine = 10 * time.Minute

// installerPrefix starts every line linux-builder-install prints.
const installerPrefix = "linux-builder-install: "

// maxInstallLogLines bounds the installer's lines copied to the run's log.
const maxInstallLogLines = 200

// InstallDisk boots iso's live system in QEMU (TCG, no network, the
// boot test's sandbox, without the boot-test signal) with a blank disk
// of size bytes and lb.install= on the kernel command line: the live
// system's linux-builder-install service installs the system on it
// unattended and powers the machine off. The installed disk is moved to
// disk. The installer's lines are copied to log as they come; its error,
// or the console's last line, is the error of an install that did not
// finish. Nothing on the ISO or the disk names a host path: the kernel
// and the initramfs are read from the ISO (ours: /boot/vmlinuz and
// /boot/initrd.img, written by the ISO step) into the machine's own
// directory as nobody.
func (t *Tester) InstallDisk(ctx context.Context, iso, disk string, size int64, log func(string)) error {
	qemu, mem, accel := t.machineDefaults()
	// The directory is the bot's (0711): QEMU's user writes the files it
	// was given and the boot files' directory, and can replace none of
	// them by a link to a host file the bot would then read or chown.
	priv, err := privateDir("linux-builder-install-")
	if err != nil {
		return fmt.Errorf("install directory: %w", err)
	}
	defer os.RemoveAll(priv)
	asNobody := os.Geteuid() == 0
	media := filepath.Join(priv, "linux.iso")
	if err := linkOrCopy(iso, media, false); err != nil {
		return fmt.Errorf("install directory: %w", err)
	}
	bootDir := filepath.Join(priv, "boot")
	if err := os.Mkdir(bootDir, 0o700); err != nil {
		return fmt.Errorf("install directory: %w", err)
	}
	diskPath, serial := filepath.Join(priv, "disk.raw"), filepath.Join(priv, "serial.log")
	if err := blankDisk(diskPath, size); err != nil {
		return fmt.Errorf("install disk: %w", err)
	}
	if err := newFile(serial); err != nil {
		return fmt.Errorf("install console: %w", err)
	}
	if asNobody {
		for _, p := range []string{bootDir, diskPath, serial} {
			if err := os.Chown(p, proc.Nobody, proc.Nobody); err != nil {
				return fmt.Errorf("install directory: %w", err)
			}
		}
	}
	kernel, initrd, err := extractLiveBoot(ctx, media, bootDir)
	if err != nil {
		return err
	}
	args := []string{"-machine", "q35", "-accel", accel, "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(t.cpus(1)),
		"-nographic", "-no-reboot", "-monitor", "none", "-display", "none",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
		"-serial", "file:" + serial, "-nic", "none",
		"-drive", "file=" + diskPath + ",format=raw,if=virtio,throttling.bps-write=" + fmt.Sprint(InstallWriteBytesPerSecond),
		"-drive", "file=" + media + ",media=cdrom,readonly=on",
		"-kernel", kernel, "-initrd", initrd, "-append", installCmdline}
	limit := installTimeout
	if d, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(d)-installMargin)
	}
	if limit <= 0 {
		return fmt.Errorf("no time left for the install (the step's limit is too close)")
	}
	ictx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := proc.Command(ictx, qemu, args...)
	if asNobody {
		proc.AsNobody(cmd)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	log(fmt.Sprintf("install: %s %v", qemu, args))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	lines := &installLines{path: serial, log: log}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var qemuErr error
wait:
	for {
		select {
		case qemuErr = <-exited:
			break wait
		case <-tick.C:
			lines.scan()
			if lines.logged == 0 && time.Since(start) > installFirstLine {
				cancel()
				if err := <-exited; err != nil {
					log(fmt.Sprintf("install: qemu stopped: %v", err))
				}
				return fmt.Errorf("the live system printed no installer line within %s%s", installFirstLine, clean(lastLine(serial), 300))
			}
			if lines.read > MaxSerialBytes {
				cancel()
				if err := <-exited; err != nil {
					log(fmt.Sprintf("install: qemu stopped: %v", err))
				}
				return fmt.Errorf("the install's console wrote more than %d bytes", MaxSerialBytes)
			}
		}
	}
	lines.scan()
	lines.flush()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("the install did not finish: %w", ctx.Err())
	case ictx.Err() != nil:
		return fmt.Errorf(installTooLateMsg+"%s", limit.Round(time.Second), clean(lastLine(serial), 300))
	case lines.failure != "":
		return fmt.Errorf("linux-builder-install: %s", lines.failure)
	case !lines.done:
		return fmt.Errorf("the install did not finish: qemu exited (%v) %s%s", qemuErr, clean(lastLine(serial), 300), qemuOutput(out.Bytes()))
	case qemuErr != nil:
		return fmt.Errorf("the install finished, but qemu exited with %v%s", qemuErr, qemuOutput(out.Bytes()))
	}
	log(fmt.Sprintf("install: done in %s", time.Since(start).Round(100*time.Millisecond)))
	if err := moveDisk(diskPath, disk, size); err != nil {
		return fmt.Errorf("install disk: %w", err)
	}
	return nil
}

// machineDefaults are the emulator, the memory (MiB) and the accelerator.
func (t *Tester) machineDefaults() (qemu string, mem int, accel string) {
	qemu, mem, accel = t.QEMU, t.Memory, t.Accel
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	if mem == 0 {
		mem = 2048
	}
	if accel == "" {
		accel = "tcg"
	}
	return qemu, mem, accel
}

// extractLiveBoot reads the live kernel and initramfs from iso into dir
// with xorriso, as nobody when the bot is root (dir is nobody's): what
// it writes stays in dir. Each must come out a regular file under
// maxLiveBootFile.
func extractLiveBoot(ctx context.Context, iso, dir string) (kernel, initrd string, err error) {
	kernel, initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	cmd := proc.Command(ctx, "xorriso", "-osirrox", "on", "-indev", iso,
		"-extract", "/boot/vmlinuz", kernel, "-extract", "/boot/initrd.img", initrd)
	if os.Geteuid() == 0 {
		proc.AsNobody(cmd)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("the live ISO's kernel and initramfs: xorriso: %w: %s", err, proc.LastLines(out, 3))
	}
	for _, p := range []string{kernel, initrd} {
		info, err := os.Lstat(p)
		switch {
		case err != nil:
			return "", "", fmt.Errorf("the live ISO's /boot/%s: %w", filepath.Base(p), err)
		case !info.Mode().IsRegular():
			return "", "", fmt.Errorf("the live ISO's /boot/%s is not a regular file", filepath.Base(p))
		case info.Size() == 0 || info.Size() > maxLiveBootFile:
			return "", "", fmt.Errorf("the live ISO's /boot/%s is %d bytes (1 to %d)", filepath.Base(p), info.Size(), maxLiveBootFile)
		}
	}
	return kernel, initrd, nil
}

// blankDisk makes a sparse file of size bytes at path.
func blankDisk(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// moveDisk moves the machine's disk to dst, the bot's again: a rename, or
// a sparse copy to another file system. The disk must still be the file
// the machine was given: a regular file of size bytes with one link
// (opened without following a link).
func moveDisk(src, dst string, size int64) error {
	f, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case !info.Mode().IsRegular() || !ok || st.Nlink != 1:
		return errors.New("the machine's disk is no longer the regular file it was given")
	case info.Size() != size:
		return fmt.Errorf("the machine's disk is %d bytes, not the %d it was given", info.Size(), size)
	}
	if err := os.Rename(src, dst); err != nil {
		if err := sparse.Copy(src, dst); err != nil {
			_ = os.Remove(dst)
			return err
		}
		return os.Chmod(dst, 0o600)
	}
	// The renamed file is the one opened: the bot's again.
	if os.Geteuid() == 0 {
		if err := f.Chown(0, 0); err != nil {
			return err
		}
	}
	return f.Chmod(0o600)
}

// installLines reads the install's console as it grows and copies the
// installer's lines (cleaned of control characters, clipped, at most
// maxInstallLogLines) to log; it notes the installer's "done" and its
// first error.
type installLines struct {
	path    string
	log     func(string)
	off     int64
	read    int64
	partial []byte
	logged  int
	done    bool
	failure string
}

func (l *installLines) scan() {
	f, err := os.Open(l.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReaderSize(io.LimitReader(f, MaxSerialBytes+1-l.read), 64<<10)
	for {
		chunk, err := r.ReadSlice('\n')
		l.off += int64(len(chunk))
		l.read += int64(len(chunk))
		if len(l.partial)+len(chunk) <= maxLine {
			l.partial = append(l.partial, chunk...)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return // the rest of the line comes later
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		l.line(l.partial)
		l.partial = l.partial[:0]
	}
}

// flush reads the last line, unended.
func (l *installLines) flush() {
	if len(l.partial) > 0 {
		l.line(l.partial)
		l.partial = nil
	}
}

func (l *installLines) line(b []byte) {
	s := strings.TrimRightFunc(string(b), unicode.IsSpace)
	i := strings.Index(s, installerPrefix)
	if i < 0 {
		return
	}
	// The kernel echoes its command line, which names the installer: only
	// the installer's own lines count.
	if bytes.Contains(b, echoLine) {
		return
	}
	msg := clean(s[i+len(installerPrefix):], 300)
	switch {
	case strings.HasPrefix(msg, "done"):
		l.done = true
	case strings.HasPrefix(msg, "error: ") && l.failure == "":
		l.failure = msg
	}
	if l.logged < maxInstallLogLines {
		l.logged++
		l.log("install: " + msg)
	} else if l.logged == maxInstallLogLines {
		l.logged++
		l.log(fmt.Sprintf("install: (the installer's lines after %d are not shown)", maxInstallLogLines))
	}
}

// clean keeps printable characters of s, at most n bytes.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// qemuOutput is QEMU's own last words, when it said any.
func qemuOutput(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	return "; qemu: " + proc.LastLines(b, 3)
}
