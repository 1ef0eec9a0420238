package disk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot/boottest"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// The installer, end to end: minimal-debian asking for a btrfs root with
// zstd compression on LUKS2 and a swap partition goes through the
// pipeline (its live ISO boot-tested under UEFI). The ISO then boots in
// QEMU with a blank 8 GiB disk and lb.install=/dev/vda on the kernel
// command line, the passphrase handed over as a file (QEMU's fw_cfg);
// linux-builder-install lays the disk out, encrypts the root, copies the
// system and installs GRUB for BIOS and UEFI, and powers off. The
// installed disk then boots under UEFI with Secure Boot enforced and
// under BIOS: the test types the passphrase at the initramfs's prompt on
// the serial console, and the system says, before its marker, that its
// root is btrfs with zstd on a LUKS2 volume and that its swap (encrypted
// with a key of the boot) is on.
func TestInstallerInstallsAnEncryptedBtrfsSystemThatBoots(t *testing.T) {
	for _, tool := range []string{"xorriso"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, "%s is not installed (scripts/setup.sh)", tool)
		}
	}
	src, err := os.ReadFile("../../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, "filesystem:\n  root: btrfs\n  compression: zstd\n  encryption: luks2\n  partitions: [{mount: swap, size: 256M}]\n"...)
	d := runSpec(t, src, []spec.Output{spec.OutputISO}, []pipeline.Firmware{pipeline.UEFI})
	arts, err := d.db.Artifacts(context.Background(), d.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var isoPath string
	for _, a := range arts {
		if a.Name == "linux.iso" {
			isoPath = a.Location
		}
	}
	if isoPath == "" {
		t.Fatal("no linux.iso")
	}
	t.Logf("ISO built and boot-tested in %s", d.took.Round(time.Second))

	dir := t.TempDir()
	kernel, initrd := boottest.LiveKernel(t, isoPath, dir)
	diskPath := filepath.Join(dir, "disk.raw")
	boottest.BlankDisk(t, diskPath, 8<<30)
	const passphrase = "correct horse battery staple"
	// The key file ends with a newline, as an editor writes it: the
	// passphrase typed at boot has none.
	keyPath := filepath.Join(dir, "install.key")
	if err := os.WriteFile(keyPath, []byte(passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// minimal-debian has no users: its console user logs in without a
	// password on the live system; installed, it gets this one.
	const password = "installed-system password"
	pwPath := filepath.Join(dir, "install.password")
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	install := boottest.Run(t, boottest.Machine{
		Name: "install", CPUs: 2, Timeout: 25 * time.Minute,
		Args: []string{
			"-drive", "file=" + diskPath + ",format=raw,if=virtio",
			"-drive", "file=" + isoPath + ",media=cdrom,readonly=on",
			"-kernel", kernel, "-initrd", initrd,
			"-append", "boot=live components console=ttyS0,115200n8 lb.install=/dev/vda " +
				"lb.install.keyfile=/sys/firmware/qemu_fw_cfg/by_name/opt/linux-builder/install-key/raw " +
				"lb.install.passwordfile=/sys/firmware/qemu_fw_cfg/by_name/opt/linux-builder/install-password/raw",
			"-fw_cfg", "name=opt/linux-builder/install-key,file=" + keyPath,
			"-fw_cfg", "name=opt/linux-builder/install-password,file=" + pwPath,
		},
	})
	t.Logf("install: %s", time.Since(start).Round(time.Second))
	if !strings.Contains(install, "linux-builder-install: done") {
		t.Fatalf("the installer did not finish\n--- serial (tail) ---\n%s", tail(install, 6000))
	}
	for _, secret := range []string{passphrase, password} {
		if strings.Contains(install, secret) {
			t.Errorf("%q was printed on the installer's console", secret)
		}
	}

	marker := regexp.MustCompile(fmt.Sprintf(`LINUX-BUILDER-BOOT-OK run=%d \S+`, d.run.ID))
	var wg sync.WaitGroup
	consoles := map[pipeline.Firmware]string{}
	var mu sync.Mutex
	for _, fw := range []pipeline.Firmware{pipeline.UEFISecureBoot, pipeline.BIOS} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copyPath := filepath.Join(dir, "boot-"+string(fw)+".raw")
			if out, err := exec.Command("cp", "--sparse=always", diskPath, copyPath).CombinedOutput(); err != nil {
				t.Errorf("copy the disk: %v: %s", err, out)
				return
			}
			args := []string{"-drive", "file=" + copyPath + ",format=raw,if=virtio",
				"-smbios", "type=1,family=" + pipeline.BootTestSMBIOSFamily}
			if fw == pipeline.UEFISecureBoot {
				vars := filepath.Join(dir, "vars-"+string(fw)+".fd")
				b, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
				if err != nil {
					t.Error(err)
					return
				}
				if err := os.WriteFile(vars, b, 0o600); err != nil {
					t.Error(err)
					return
				}
				args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on",
					"-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
					"-drive", "if=pflash,format=raw,file="+vars)
			}
			start := time.Now()
			console := boottest.Run(t, boottest.Machine{
				Name: "boot " + string(fw), CPUs: 1, Timeout: 15 * time.Minute, SMM: fw == pipeline.UEFISecureBoot,
				Args: args, Answer: map[string]string{"Please unlock disk": passphrase + "\n"},
				Until: marker,
			})
			t.Logf("boot %s: %s", fw, time.Since(start).Round(time.Second))
			mu.Lock()
			consoles[fw] = console
			mu.Unlock()
		}()
	}
	wg.Wait()
	for fw, console := range consoles {
		facts := map[string]string{}
		for _, l := range strings.Split(console, "\n") {
			l = strings.TrimRight(l, "\r")
			if rest, ok := strings.CutPrefix(l, "linux-builder-facts: "); ok {
				k, v, _ := strings.Cut(rest, " ")
				if k == "swap" {
					v = facts[k] + v + ";"
				}
				facts[k] = v
			}
		}
		t.Logf("%s facts: %q", fw, facts)
		if !marker.MatchString(console) {
			t.Errorf("%s: the installed system never printed its marker\n--- serial (tail) ---\n%s", fw, tail(console, 6000))
			continue
		}
		// The facts end with "end": a line cut short (the serial line
		// hung up under them, as a getty starting does) is an error.
		if _, ok := facts["end"]; !ok {
			t.Errorf("%s: the facts stop before their end line: %q", fw, facts)
		}
		root := strings.Fields(facts["root"])
		if len(root) != 3 || root[0] != "btrfs" || !strings.HasPrefix(root[1], "/dev/mapper/lbroot") ||
			!strings.Contains(root[2], "compress=zstd") || !strings.Contains(root[2], "subvol=/@") {
			t.Errorf("%s: root is %q, want btrfs on /dev/mapper/lbroot with compress=zstd, subvolume @", fw, facts["root"])
		}
		if facts["root-crypt"] != "LUKS2" {
			t.Errorf("%s: the root's encryption is %q, want LUKS2", fw, facts["root-crypt"])
		}
		if !strings.Contains(facts["swap"], "/dev/") || !strings.Contains(facts["swap"], "partition") {
			t.Errorf("%s: swap %q, want a partition on", fw, facts["swap"])
		}
		// The live system's autologin and password-less sudo stay on the
		// live system: installed, the console user has the password given.
		if got, want := facts["console-user"], "live password=P autologin=no sudo-nopasswd=no"; got != want {
			t.Errorf("%s: console user %q, want %q", fw, got, want)
		}
		if !strings.HasPrefix(strings.Fields(facts["swap"] + " x")[0], "/dev/dm-") {
			t.Errorf("%s: swap %q, want the encrypted swap (a /dev/dm- device)", fw, facts["swap"])
		}
		if fw == pipeline.UEFISecureBoot && !strings.Contains(console, "secureboot: Secure boot enabled") {
			t.Errorf("%s: the kernel never said Secure Boot was on", fw)
		}
		if strings.Contains(console, passphrase) {
			t.Errorf("%s: the passphrase was echoed on the console", fw)
		}
	}
}
