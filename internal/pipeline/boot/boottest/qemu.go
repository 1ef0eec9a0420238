// Package boottest runs QEMU machines for tests that drive a machine
// themselves (an installer booted with its kernel parameters, an
// installed disk), where the boot tester's fixed boot does not fit.
package boottest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/proc"
)

// Machine is one TCG machine.
type Machine struct {
	Name    string
	CPUs    int
	Timeout time.Duration
	// SMM is on for a Secure Boot firmware.
	SMM  bool
	Args []string
	// Answer types a value on the serial console each time its key
	// appears there.
	Answer map[string]string
	// Until ends the run (the machine is killed) once the console matches.
	Until *regexp.Regexp
}

// maxConsole bounds what a machine may print.
const maxConsole = 64 << 20

// Run runs m with its serial console on stdio until it powers off, until
// m.Until matches, or m.Timeout, and returns the console. A timeout is a
// test error.
func Run(t testing.TB, m Machine) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), m.Timeout)
	defer cancel()
	machine := "q35"
	if m.SMM {
		machine = "q35,smm=on"
	}
	args := append([]string{"-machine", machine, "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", fmt.Sprint(max(m.CPUs, 1)),
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "stdio",
		"-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"}, m.Args...)
	cmd := proc.Command(ctx, "qemu-system-x86_64", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	var console bytes.Buffer
	rd := bufio.NewReader(stdout)
	answered := map[string]int{}
	buf := make([]byte, 4096)
	for {
		n, err := rd.Read(buf)
		console.Write(buf[:n])
		if console.Len() > maxConsole {
			t.Errorf("%s: over %d MiB of console", m.Name, maxConsole>>20)
			break
		}
		text := console.String()
		for key, value := range m.Answer {
			if c := strings.Count(text, key); c > answered[key] {
				answered[key] = c
				if _, err := io.WriteString(stdin, value); err != nil {
					t.Errorf("%s: type on the console: %v", m.Name, err)
				}
			}
		}
		if m.Until != nil && m.Until.MatchString(text) {
			break
		}
		if err != nil {
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ctx.Err() != nil {
		t.Errorf("%s: not done within %s", m.Name, m.Timeout)
	}
	if stderr.Len() > 0 {
		t.Logf("%s: qemu: %s", m.Name, Tail(stderr.String(), 2000))
	}
	return console.String()
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// LiveKernel extracts the live ISO's kernel and initramfs into dir, for a
// machine booted with -kernel and its own kernel parameters.
func LiveKernel(t testing.TB, iso, dir string) (kernel, initrd string) {
	t.Helper()
	kernel, initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	if out, err := proc.Command(context.Background(), "xorriso", "-osirrox", "on", "-indev", iso,
		"-extract", "/boot/vmlinuz", kernel, "-extract", "/boot/initrd.img", initrd).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return kernel, initrd
}

// BlankDisk makes a sparse raw disk of size bytes at path.
func BlankDisk(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}
