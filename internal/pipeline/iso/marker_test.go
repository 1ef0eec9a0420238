package iso

import (
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// The published ISO is the file the boot test booted. A user who boots
// it must get a system that stays up: the boot-test marker (print, then
// power off) runs only when the kernel command line has BootTestParam,
// and the ISO's GRUB adds that only on a machine whose SMBIOS family is
// the boot test's.
func TestTheLiveMarkerIsInertOutsideTheBootTest(t *testing.T) {
	for _, init := range []string{"systemd", "openrc"} {
		rec := &records{hostname: "h", init: init}
		fs, err := rec.liveFiles("LINUX-BUILDER-BOOT-OK run=1")
		if err != nil {
			t.Fatal(err)
		}
		var body string
		for _, f := range fs {
			if f.name == markerUnit || f.name == markerRC {
				body = f.body
			}
		}
		switch init {
		case "systemd":
			if !strings.Contains(body, "\nConditionKernelCommandLine="+pipeline.BootTestParam+"\n") {
				t.Errorf("systemd marker unit is not gated by %s:\n%s", pipeline.BootTestParam, body)
			}
		case "openrc":
			gate := "grep -qw " + pipeline.BootTestParam + " /proc/cmdline || exit 0\n"
			if i, j := strings.Index(body, gate), strings.Index(body, "poweroff"); i < 0 || j < i {
				t.Errorf("OpenRC marker script does not check %s before powering off:\n%s", pipeline.BootTestParam, body)
			}
		}
	}
	cfg := grubConfig("LINUXBUILDER", "boot=live components", "quiet", "systemd")
	for _, want := range []string{
		"insmod smbios",
		"smbios --type 1 --get-string 0x1a --set lb_family",
		`if [ "$lb_family" = "` + pipeline.BootTestSMBIOSFamily + `" ]; then set lb_test=` + pipeline.BootTestParam + "; fi",
		"linux /boot/vmlinuz boot=live components console=tty0 console=ttyS0,115200n8 panic=10 quiet $lb_test\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "linux-builder.boot-test ") || strings.Count(cfg, pipeline.BootTestParam) != 1 {
		t.Errorf("grub.cfg arms the marker unconditionally:\n%s", cfg)
	}
}

// Markers with characters a shell or a unit file would interpret are
// refused, for the live system as for the installed one.
func TestTheMarkerRefusesShellAndSpecifierCharacters(t *testing.T) {
	rec := &records{hostname: "h", init: "systemd"}
	for _, m := range []string{"a'b", "a;b", "a$b", "a%nb", "a\nb"} {
		if _, err := rec.liveFiles(m); err == nil {
			t.Errorf("marker %q accepted", m)
		}
	}
}
