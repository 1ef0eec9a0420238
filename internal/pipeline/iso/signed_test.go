package iso

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// signedChain is what Debian's shim-signed and grub-efi-amd64-signed put
// in an image (stand-in bytes).
func signedChain() []ent {
	return []ent{
		dir("usr"), dir("usr/lib"), dir("usr/lib/shim"), reg("usr/lib/shim/shimx64.efi.signed", "SHIM-SIGNED"),
		reg("usr/lib/shim/mmx64.efi.signed", "MOK-SIGNED"), reg("usr/lib/shim/fbx64.efi.signed", "FALLBACK"),
		dir("usr/lib/grub"), dir("usr/lib/grub/x86_64-efi-signed"),
		reg("usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed", "GRUB-CD-SIGNED"),
		reg("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", "GRUB-SIGNED"),
	}
}

// An image with the distribution's signed shim and GRUB gets an ISO whose
// El Torito EFI image boots them (shim as the removable-media loader,
// the CD GRUB beside it, MokManager; never shim's fallback, which would
// write boot entries and reset the machine), and a BIOS El Torito image;
// the image's files stay in the live system too.
func TestSignedChainMakesASecureBootISO(t *testing.T) {
	var lines []string
	out, err := buildISOLog(t, image(signedChain()...), "LINUX-BUILDER-BOOT-OK run=3", &lines)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "UEFI boots the image's shim and signed GRUB (Secure Boot)") {
		t.Errorf("the log does not say the ISO boots the signed chain: %q", lines)
	}
	files := isoFiles(t, out)
	for k, v := range map[string]string{
		"squashfs:usr/lib/shim/shimx64.efi.signed": "0 SHIM-SIGNED",
		"iso:.disk/info": "Linux Builder live LINUXBUILDER\n",
	} {
		if files[k] != v {
			t.Errorf("%s = %q, want %q", k, files[k], v)
		}
	}
	if !strings.Contains(files["iso:boot/grub/grub.cfg"], `if [ "$lockdown" = "y" ]; then echo "Linux Builder: GRUB runs under UEFI Secure Boot"; fi`) {
		t.Errorf("grub.cfg does not say when GRUB is locked down:\n%s", files["iso:boot/grub/grub.cfg"])
	}
	efiImg := filepath.Join(t.TempDir(), "efi.img")
	if err := os.WriteFile(efiImg, []byte(files["iso:boot/grub/efi.img"]), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"EFI/BOOT/BOOTX64.EFI": "SHIM-SIGNED", "EFI/BOOT/grubx64.efi": "GRUB-CD-SIGNED", "EFI/BOOT/mmx64.efi": "MOK-SIGNED"} {
		cmd := exec.Command("mtype", "-i", efiImg, "::/"+name)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if b, err := cmd.Output(); err != nil || string(b) != want {
			t.Errorf("EFI image's %s = %q (%v), want %q", name, b, err, want)
		}
	}
	cmd := exec.Command("mdir", "-i", efiImg, "-b", "-/", "::/")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.Output(); err != nil || strings.Contains(strings.ToLower(string(b)), "fbx64") {
		t.Errorf("EFI image holds %s (%v)", b, err)
	}
	report, err := exec.Command("xorriso", "-indev", out, "-report_el_torito", "plain").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v: %s", err, report)
	}
	for _, want := range []string{"El Torito boot img :   1  BIOS", "El Torito boot img :   2  UEFI"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("El Torito catalogue lacks %q:\n%s", want, report)
		}
	}
}

// The signed chain's names are resolved inside the image, as the
// kernel's are, and must stay in their package's directory: an image
// cannot make the ISO step read anything else as its boot loader.
func TestSignedChainNamesStayInTheirDirectory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []ent
		want    string
	}{
		{"shim links to the kernel", withShim(symlink("usr/lib/shim/shimx64.efi.signed", "../../../boot/vmlinuz-6.1.0-amd64")), "outside /usr/lib/shim"},
		{"usr/lib is a link to /boot", []ent{dir("usr"), symlink("usr/lib", "/boot"), dir("boot/shim"), reg("boot/shim/shimx64.efi.signed", "X")}, "outside /usr/lib/shim"},
		{"shim links to a file not captured", withShim(symlink("usr/lib/shim/shimx64.efi.signed", "fbx64.efi.signed")), "not one of the files captured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildISO(t, image(tc.changes...), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// withShim is signedChain with its shim entry replaced.
func withShim(shim ent) []ent {
	var out []ent
	for _, e := range signedChain() {
		if e.name == shim.name {
			e = shim
		}
		out = append(out, e)
	}
	return out
}
