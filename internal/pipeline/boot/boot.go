// Package boot boots an ISO in QEMU under software emulation (TCG: KVM
// hangs on the builders) with the serial console in a file, and waits for
// the marker the ISO prints once the system is up. OVMF provides UEFI.
package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/proc"
	"github.com/linux-builder/linux-builder/internal/sparse"
)

// Tester runs QEMU.
type Tester struct {
	// QEMU is the emulator; default qemu-system-x86_64.
	QEMU string
	// OVMFCode and OVMFVars are the UEFI firmware images; defaults from
	// Debian's ovmf package.
	OVMFCode, OVMFVars string
	// OVMFSecureCode and OVMFSecureVars are those of UEFISecureBoot: the
	// secboot build (it needs SMM) and a variable store with Microsoft's
	// keys enrolled and Secure Boot on; defaults from Debian's ovmf.
	OVMFSecureCode, OVMFSecureVars string
	// Memory in MiB; default 2048.
	Memory int
	// Accel is the QEMU accelerator; default tcg.
	Accel string
	// CPUs is the number of vCPUs of each machine (-smp); default the
	// host's CPUs divided by the boots running at once
	// (BootRequest.Concurrent), at least 1: TCG runs a thread per vCPU,
	// and more threads than cores only slow every boot down.
	CPUs int
	// AsUser boots the medium as a user's machine would: without the
	// boot-test signal (pipeline.BootTestSMBIOSFamily), so the marker
	// stays inert. For tests of what users download.
	AsUser bool
}

var _ pipeline.BootTester = (*Tester)(nil)

// ErrNoMarker is returned when the system did not print its marker in time.
var ErrNoMarker = errors.New("the boot marker did not appear")

// ErrSecureBootRefused is returned when, under UEFISecureBoot, the
// firmware, shim or GRUB said it refused to run a binary that is not
// signed by a key it trusts: the medium does not boot with Secure Boot.
var ErrSecureBootRefused = errors.New("secure boot refused a boot binary")

// ErrSecureBootNotShown is returned when a UEFISecureBoot boot reached
// its marker but neither the kernel nor GRUB said Secure Boot was on.
var ErrSecureBootNotShown = errors.New("the console never said Secure Boot was enabled")

// Boot boots req.ISO (or req.Disk) and returns how long the marker took to appear.
func (t *Tester) Boot(ctx context.Context, req pipeline.BootRequest, log func(string)) (time.Duration, error) {
	qemu := t.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	mem, accel := t.Memory, t.Accel
	if mem == 0 {
		mem = 2048
	}
	if accel == "" {
		accel = "tcg"
	}
	// QEMU runs the built system, a stranger's code, under TCG, which is
	// no security boundary: it runs as nobody (when the bot is root) with
	// its seccomp sandbox, in a directory of its own holding what it
	// reads and writes; the console log is copied out afterwards. The
	// directory stays the bot's (mode 0711): QEMU's user may write the
	// files it was given, never replace one (a link to a host file the
	// bot would then read or chown).
	priv, err := privateDir("linux-builder-boot-")
	if err != nil {
		return 0, fmt.Errorf("boot directory: %w", err)
	}
	defer os.RemoveAll(priv)
	media := medium{path: filepath.Join(priv, "linux.iso")}
	src := req.ISO
	if req.Disk != "" {
		if req.ISO != "" {
			return 0, errors.New("boot: both an ISO and a disk to boot")
		}
		media, src = medium{path: filepath.Join(priv, "linux.raw"), disk: true}, req.Disk
	}
	serial := filepath.Join(priv, "serial.log")
	if err := linkOrCopy(src, media.path, media.disk); err != nil {
		return 0, fmt.Errorf("boot directory: %w", err)
	}
	args, err := t.args(req.Firmware, priv, media, serial, machine{mem: mem, cpus: t.cpus(req.Concurrent), accel: accel})
	if err != nil {
		return 0, err
	}
	if err := os.Remove(req.SerialLog); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("console log: %w", err)
	}
	defer func() {
		if err := copyCapped(serial, req.SerialLog, MaxSerialBytes); err != nil && !errors.Is(err, os.ErrNotExist) {
			log(fmt.Sprintf("boot (%s): keep the console log: %v", req.Firmware, err))
		}
	}()
	timeout := req.Timeout
	if timeout == 0 {
		timeout = 300 * time.Second
	}
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := proc.Command(bctx, qemu, args...)
	if !proc.AsNobody(cmd) {
		log(fmt.Sprintf("boot (%s): the bot is not root: QEMU runs as the bot's own user", req.Firmware))
	} else {
		// The console log and the variable store become QEMU's; the ISO (a
		// hard link of the published artifact) stays the bot's, read-only.
		// A disk is the boot test's own copy, which the machine writes.
		if err := newFile(serial); err != nil {
			return 0, fmt.Errorf("console log: %w", err)
		}
		owned := []string{serial, filepath.Join(priv, "ovmf-vars.fd")}
		if media.disk {
			owned = append(owned, media.path)
		}
		for _, p := range owned {
			if err := os.Lchown(p, proc.Nobody, proc.Nobody); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, fmt.Errorf("boot directory: %w", err)
			}
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	log(fmt.Sprintf("boot (%s): %s %v", req.Firmware, qemu, args))
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	watch := newSerialWatch(serial, req.Marker, req.Firmware)
	took, err := waitForMarker(ctx, bctx, cancel, exited, watch, waitOptions{
		start: start, timeout: timeout, serial: serial, firmware: req.Firmware, log: log})
	if err != nil || req.Firmware != pipeline.UEFISecureBoot {
		return took, err
	}
	return took, watch.secureBootProof(log)
}

// waitOptions is what waitForMarker reports with.
type waitOptions struct {
	start    time.Time
	timeout  time.Duration
	serial   string
	firmware pipeline.Firmware
	log      func(string)
}

// waitForMarker watches the console until QEMU exits: the marker seen
// before then is a pass. ctx is the caller's, bctx the boot's (with its
// timeout, cancelled by cancel).
func waitForMarker(ctx, bctx context.Context, cancel context.CancelFunc, exited <-chan error, watch *serialWatch, o waitOptions) (time.Duration, error) {
	start, timeout, serial, log := o.start, o.timeout, o.serial, o.log
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var found time.Duration
	for {
		select {
		case err := <-exited:
			watch.scan()
			if found == 0 && watch.seen(needleMarker) {
				found = time.Since(start)
			}
			if found > 0 {
				return found, nil
			}
			if refusal := watch.refusal(); refusal != "" {
				return 0, fmt.Errorf("%w: %q on the console", ErrSecureBootRefused, refusal)
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if bctx.Err() != nil {
				return 0, fmt.Errorf("%w within %s", ErrNoMarker, timeout)
			}
			return 0, fmt.Errorf("%w: qemu exited (%v) %s", ErrNoMarker, err, lastLine(serial))
		case <-tick.C:
			if watch.size() > MaxSerialBytes {
				cancel()
				// QEMU's exit status after being killed says nothing more.
				if err := <-exited; err != nil {
					log(fmt.Sprintf("boot (%s): qemu stopped: %v", o.firmware, err))
				}
				return 0, fmt.Errorf("%w: the console wrote more than %d bytes", ErrNoMarker, MaxSerialBytes)
			}
			watch.scan()
			if refusal := watch.refusal(); found == 0 && refusal != "" {
				// The firmware (or shim, or GRUB) refused a binary: the
				// machine will not reach the marker; do not wait for the
				// timeout.
				cancel()
				if err := <-exited; err != nil {
					log(fmt.Sprintf("boot (%s): qemu stopped: %v", o.firmware, err))
				}
				return 0, fmt.Errorf("%w: %q on the console", ErrSecureBootRefused, refusal)
			}
			if found == 0 && watch.seen(needleMarker) {
				// The marker is the pass: the machine is stopped now
				// rather than waited for while it powers itself off (a
				// few seconds of every boot under TCG). Its media are
				// read-only or a throwaway copy, so nothing is lost.
				found = time.Since(start)
				log(fmt.Sprintf("boot (%s): marker after %s; stopping the machine", o.firmware, found.Round(100*time.Millisecond)))
				cancel()
			}
		}
	}
}

// numCPU is the host's CPU count (a variable for tests).
var numCPU = runtime.NumCPU

// cpus is the vCPU count of one machine when concurrent boots (0 means 1)
// share the host.
func (t *Tester) cpus(concurrent int) int {
	if t.CPUs > 0 {
		return t.CPUs
	}
	return max(numCPU()/max(concurrent, 1), 1)
}

// machine is the size of a test machine.
type machine struct {
	mem, cpus int // MiB, vCPUs
	accel     string
}

// medium is what a test machine boots from: an ISO (a read-only CD) or
// a raw disk image (a virtio disk).
type medium struct {
	path string
	disk bool
}

// drive is QEMU's -drive and -boot for m.
func (m medium) drive() []string {
	if m.disk {
		// The machine may write its disk (a throwaway copy), at most
		// DiskWriteBytesPerSecond: a hostile system filling its disk
		// during a boot's timeout fills only that much of the host's.
		return []string{"-drive", "file=" + m.path + ",format=raw,if=virtio,throttling.bps-write=" + fmt.Sprint(DiskWriteBytesPerSecond), "-boot", "c"}
	}
	return []string{"-drive", "file=" + m.path + ",media=cdrom,readonly=on", "-boot", "d"}
}

// args are QEMU's arguments for booting media with firmware fw, its
// console going to serial. UEFI gets its own copy of the variable store in
// priv.
func (t *Tester) args(fw pipeline.Firmware, priv string, media medium, serial string, m machine) ([]string, error) {
	args := []string{"-machine", "q35", "-accel", m.accel, "-m", fmt.Sprint(m.mem), "-smp", fmt.Sprint(m.cpus),
		"-nographic", "-no-reboot", "-monitor", "none", "-display", "none",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
		"-serial", "file:" + serial}
	args = append(args, media.drive()...)
	if !t.AsUser {
		// The boot-test signal: the boot loader arms the marker only
		// when it reads this family in the SMBIOS tables.
		args = append(args, "-smbios", "type=1,family="+pipeline.BootTestSMBIOSFamily)
	}
	args = append(args, "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0")
	if !fw.IsUEFI() {
		return args, nil
	}
	code, vars := t.firmwareImages(fw)
	if fw == pipeline.UEFISecureBoot {
		// The secboot build keeps its variables behind SMM (QEMU's
		// README.Debian: it aborts without it), and the flash is secure
		// so the guest's OS cannot write the variables (the keys) itself.
		args[1] = "q35,smm=on"
		args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	// The variable store is written to: give QEMU its own copy.
	tmpVars := filepath.Join(priv, "ovmf-vars.fd")
	b, err := os.ReadFile(vars)
	if err != nil {
		return nil, fmt.Errorf("OVMF variables: %w", err)
	}
	if err := os.WriteFile(tmpVars, b, 0o600); err != nil {
		return nil, fmt.Errorf("OVMF variables: %w", err)
	}
	return append(args, "-drive", "if=pflash,format=raw,readonly=on,file="+code, "-drive", "if=pflash,format=raw,file="+tmpVars), nil

}

// DefaultFirmwareImages are Debian's OVMF code and variable-store
// template for a UEFI firmware: with Secure Boot, the code that enforces
// it and variables with Microsoft's keys enrolled (which turn it on);
// without, variables with no keys.
func DefaultFirmwareImages(fw pipeline.Firmware) (code, vars string) {
	if fw == pipeline.UEFISecureBoot {
		return "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
	}
	return "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
}

// firmwareImages are the OVMF code and variable-store template of a UEFI
// firmware: the Tester's, else DefaultFirmwareImages.
func (t *Tester) firmwareImages(fw pipeline.Firmware) (code, vars string) {
	code, vars = t.OVMFCode, t.OVMFVars
	if fw == pipeline.UEFISecureBoot {
		code, vars = t.OVMFSecureCode, t.OVMFSecureVars
	}
	defCode, defVars := DefaultFirmwareImages(fw)
	if code == "" {
		code = defCode
	}
	if vars == "" {
		vars = defVars
	}
	return code, vars
}

// privateDir makes a machine's directory: the bot's, which QEMU's user
// (nobody) may enter but not change.
func privateDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// newFile makes an empty file (mode 0600) for QEMU to write.
func newFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// DiskWriteBytesPerSecond caps a booted disk's writes (QEMU's block
// throttling): a boot writes a few megabytes (logs, machine-id, the
// journal); 300 s at this rate is 2.4 GiB at most.
const DiskWriteBytesPerSecond = 8 << 20

// linkOrCopy makes dst a hard link of src, or a copy on another file
// system: a disk's copy keeps its holes (a disk of many gigabytes, mostly
// empty, costs what its data takes in the boot's directory).
func linkOrCopy(src, dst string, disk bool) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	if disk {
		return sparse.Copy(src, dst)
	}
	return copyCapped(src, dst, -1)
}

// copyCapped copies at most max bytes (all when max < 0) of src to dst.
func copyCapped(src, dst string, max int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	var r io.Reader = in
	if max >= 0 {
		r = io.LimitReader(in, max)
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// MaxSerialBytes caps a boot's console log: the image decides what its
// console prints, and the log is kept and published.
const MaxSerialBytes = 16 << 20

func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 4096)
	if info, err := f.Stat(); err == nil && info.Size() > int64(len(b)) {
		_, _ = f.Seek(info.Size()-int64(len(b)), 0)
	}
	n, _ := f.Read(b)
	b = b[:n]
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) == 0 {
		return ""
	}
	return "; last console line: " + string(lines[len(lines)-1])
}
