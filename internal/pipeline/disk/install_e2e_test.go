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
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot/boottest"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// The installer, end to end: minimal-debian asking for a btrfs root with
// zstd compression on LVM on LUKS2 (Debian's "encrypted LVM") with a swap
// goes through the pipeline (its live ISO boot-tested under UEFI). The ISO then boots in
// QEMU with a blank 8 GiB disk and lb.install=/dev/vda on the kernel
// command line, the passphrase handed over as a file (QEMU's fw_cfg);
// linux-builder-install lays the disk out, encrypts the root partition,
// makes the volume group in it with the root and the swap as logical
// volumes, copies the system and installs GRUB for BIOS and UEFI, and
// powers off. The
// installed disk then boots under UEFI with Secure Boot enforced and
// under BIOS: the test types the passphrase at the initramfs's prompt on
// the serial console, and the system says, before its marker, that its
// root is btrfs with zstd on a logical volume in LUKS2 and that its swap,
// the volume group's other logical volume, is on.
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
	src = append(src, "filesystem:\n  root: btrfs\n  compression: zstd\n  encryption: luks2\n  lvm: true\n  partitions: [{mount: swap, size: 256M}]\n"...)
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

	diskPath := installFromISO(t, isoPath, dir, 8<<30, map[string]string{"keyfile": keyPath, "passwordfile": pwPath})
	for _, secret := range []string{passphrase, password} {
		if strings.Contains(readFile(t, filepath.Join(dir, "install.log")), secret) {
			t.Errorf("%q was printed on the installer's console", secret)
		}
	}

	marker := regexp.MustCompile(fmt.Sprintf(`LINUX-BUILDER-BOOT-OK run=%d \S+`, d.run.ID))
	consoles := bootInstalled(t, dir, diskPath, []pipeline.Firmware{pipeline.UEFISecureBoot, pipeline.BIOS},
		map[string]string{"Please unlock disk": passphrase + "\n"}, marker)
	for fw, console := range consoles {
		facts := bootFacts(console)
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
		// The volume group's name is the install's own: lbvg_ and 8 hex digits.
		if len(root) != 3 || root[0] != "btrfs" || !regexp.MustCompile(`^/dev/mapper/lbvg_[0-9a-f]{8}-root\[/@\]$`).MatchString(root[1]) ||
			!strings.Contains(root[2], "compress=zstd") || !strings.Contains(root[2], "subvol=/@") {
			t.Errorf("%s: root is %q, want btrfs on /dev/mapper/lbvg_XXXXXXXX-root with compress=zstd, subvolume @", fw, facts["root"])
		}
		// A logical volume in LUKS on a partition of the disk.
		if got, want := facts["root-stack"], "lvm crypt part disk"; got != want {
			t.Errorf("%s: the root sits on %q, want %q", fw, got, want)
		}
		// The installed system installs nothing at boot.
		if got := facts["install-service"]; got != "disabled" {
			t.Errorf("%s: the unattended install's service is %q on the installed system, want disabled", fw, got)
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
		if got := facts["swap-on"]; !regexp.MustCompile(`^lbvg_[0-9a-f]{8}-swap lvm crypt part disk$`).MatchString(got) {
			t.Errorf("%s: swap on %q, want lbvg_XXXXXXXX-swap lvm crypt part disk (the logical volume, in LUKS)", fw, got)
		}
		if fw == pipeline.UEFISecureBoot && !strings.Contains(console, "secureboot: Secure boot enabled") {
			t.Errorf("%s: the kernel never said Secure Boot was on", fw)
		}
		if strings.Contains(console, passphrase) {
			t.Errorf("%s: the passphrase was echoed on the console", fw)
		}
	}
}

// installFromISO boots the ISO at isoPath in QEMU with a blank disk of
// size bytes and lb.install=/dev/vda on its kernel command line, each of
// files (keyfile, passwordfile: a host path) handed over through fw_cfg as
// lb.install.NAME=; it fails the test unless linux-builder-install
// finishes. It returns the installed disk's path; the install's console
// is dir/install.log.
func installFromISO(t *testing.T, isoPath, dir string, size int64, files map[string]string) string {
	t.Helper()
	kernel, initrd := boottest.LiveKernel(t, isoPath, dir)
	diskPath := filepath.Join(dir, "disk.raw")
	boottest.BlankDisk(t, diskPath, size)
	appendLine := "boot=live components console=ttyS0,115200n8 lb.install=/dev/vda"
	args := []string{
		"-drive", "file=" + diskPath + ",format=raw,if=virtio",
		"-drive", "file=" + isoPath + ",media=cdrom,readonly=on",
		"-kernel", kernel, "-initrd", initrd,
	}
	for _, name := range []string{"keyfile", "passwordfile"} {
		path, ok := files[name]
		if !ok {
			continue
		}
		cfg := "opt/linux-builder/install-" + strings.TrimSuffix(name, "file")
		appendLine += " lb.install." + name + "=/sys/firmware/qemu_fw_cfg/by_name/" + cfg + "/raw"
		args = append(args, "-fw_cfg", "name="+cfg+",file="+path)
	}
	args = append(args, "-append", appendLine)
	start := time.Now()
	install := boottest.Run(t, boottest.Machine{Name: "install", CPUs: 2, Timeout: 25 * time.Minute, Args: args})
	t.Logf("install: %s", time.Since(start).Round(time.Second))
	if err := os.WriteFile(filepath.Join(dir, "install.log"), []byte(install), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(install, "linux-builder-install: done") {
		t.Fatalf("the installer did not finish\n--- serial (tail) ---\n%s", tail(install, 6000))
	}
	return diskPath
}

// bootInstalled boots a copy of the installed disk under each firmware at
// once, as a boot-test machine (its SMBIOS says so), answering the
// console's prompts, until marker; it returns each console.
func bootInstalled(t *testing.T, dir, diskPath string, fws []pipeline.Firmware, answer map[string]string, marker *regexp.Regexp) map[pipeline.Firmware]string {
	t.Helper()
	var wg sync.WaitGroup
	consoles := map[pipeline.Firmware]string{}
	var mu sync.Mutex
	for _, fw := range fws {
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
				args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
			}
			if fw != pipeline.BIOS {
				code, varsFrom := boot.DefaultFirmwareImages(fw)
				vars := filepath.Join(dir, "vars-"+string(fw)+".fd")
				b, err := os.ReadFile(varsFrom)
				if err != nil {
					t.Error(err)
					return
				}
				if err := os.WriteFile(vars, b, 0o600); err != nil {
					t.Error(err)
					return
				}
				args = append(args, "-drive", "if=pflash,format=raw,readonly=on,file="+code, "-drive", "if=pflash,format=raw,file="+vars)
			}
			start := time.Now()
			console := boottest.Run(t, boottest.Machine{
				Name: "boot " + string(fw), CPUs: 1, Timeout: 15 * time.Minute, SMM: fw == pipeline.UEFISecureBoot,
				Args: args, Answer: answer, Until: marker,
			})
			t.Logf("boot %s: %s", fw, time.Since(start).Round(time.Second))
			mu.Lock()
			consoles[fw] = console
			mu.Unlock()
		}()
	}
	wg.Wait()
	return consoles
}

// bootFacts reads the boot facts an installed system prints under the
// boot test (linux-builder-facts: KEY VALUE lines; swap lines add up).
func bootFacts(console string) map[string]string {
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
	return facts
}

// readFile is the file's text; it fails the test when it cannot be read.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
