package iso

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	const gate = bootTestGate // its behaviour: TestBootTestGateWantsTheWholeParameter
	for _, init := range MarkerInits {
		rec := &records{hostname: "h", init: init}
		fs, err := rec.liveFiles("LINUX-BUILDER-BOOT-OK run=1")
		if err != nil {
			t.Fatal(err)
		}
		bodies := map[string]string{}
		for _, f := range fs {
			bodies[f.name] = f.body
		}
		switch init {
		case "systemd":
			if body := bodies[markerUnit]; !strings.Contains(body, "\nConditionKernelCommandLine="+pipeline.BootTestParam+"\n") {
				t.Errorf("systemd marker unit is not gated by %s:\n%s", pipeline.BootTestParam, body)
			}
		case "openrc":
			body := bodies[markerOpenRC]
			if i, j := strings.Index(body, gate+" || return 0\n"), strings.Index(body, "poweroff"); !strings.HasPrefix(body, "#!/sbin/openrc-run\n") || i < 0 || j < i {
				t.Errorf("OpenRC marker service does not check %s before powering off:\n%s", pipeline.BootTestParam, body)
			}
			if bodies[markerOpenRCLink] != "/"+markerOpenRC {
				t.Errorf("the OpenRC marker is not in the default runlevel: %q", bodies[markerOpenRCLink])
			}
		case "runit", "s6":
			// Without the parameter the service takes itself down (and
			// sleeps should that fail): it never loops, never powers off.
			dir, link, down := markerRunitDir, markerRunitLink, "sv down ."
			if init == "s6" {
				dir, link, down = markerS6Dir, markerS6Link, "s6-svc -d ."
			}
			body := bodies[dir+"/run"]
			off := "if ! " + gate + "; then\n\t" + down + " >/dev/null 2>&1\n\texec sleep 2147483647\nfi\n"
			if i, j := strings.Index(body, off), strings.Index(body, "poweroff"); !strings.HasPrefix(body, "#!/bin/sh\n") || i < 0 || j < i {
				t.Errorf("%s marker service does not check %s before powering off:\n%s", init, pipeline.BootTestParam, body)
			}
			if bodies[link] != "/"+dir {
				t.Errorf("the %s marker is not in the scan directory: %q", init, bodies[link])
			}
		}
		for name := range bodies {
			if strings.Contains(name, "boot-marker") && !ownedMarker(name) && name != markerRunitDir && name != markerS6Dir {
				t.Errorf("%s: the rewriter would not drop the image's own %s", init, name)
			}
		}
	}
	cfg := grubConfig("LINUXBUILDER", "boot=live components", "quiet", "systemd")
	for _, want := range []string{
		"insmod smbios",
		"smbios --type 1 --get-string 0x1a --set lb_family",
		`if [ "$lb_family" = "` + pipeline.BootTestSMBIOSFamily + `" ]; then set lb_test=` + pipeline.BootTestParam + "; fi",
		"linux /boot/vmlinuz boot=live components console=tty0 console=ttyS0,115200n8 panic=10 quiet $lb_test\n",
		// The test machine does not wait at the menu; a user's does.
		"set timeout=3\n",
		"if [ -n \"$lb_test\" ]; then\n\tset timeout=0\nfi\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Count(cfg, "set timeout=") != 2 || strings.Index(cfg, "set timeout=0") < strings.Index(cfg, "set timeout=3") {
		t.Errorf("grub.cfg's menu timeout is not 3 s with 0 s only on the boot test's machine:\n%s", cfg)
	}
	if strings.Contains(cfg, "linux-builder.boot-test ") || strings.Count(cfg, pipeline.BootTestParam) != 1 {
		t.Errorf("grub.cfg arms the marker unconditionally:\n%s", cfg)
	}
}

// Markers with characters a shell or a unit file would interpret are
// refused, for the live system as for the installed one.
func TestTheMarkerRefusesShellAndSpecifierCharacters(t *testing.T) {
	rec := &records{hostname: "h", init: "systemd"}
	for _, init := range MarkerInits {
		rec.init = init
		for _, m := range []string{"a'b", "a;b", "a$b", "a%nb", "a\nb", "a\\b", "a\"b", "a`b`", "a&b", "a|b", "a>b", "-e", "a\rb", "a\x00b", strings.Repeat("a", 129)} {
			if _, err := rec.liveFiles(m); err == nil {
				t.Errorf("%s: marker %q accepted", init, m)
			}
		}
	}
}

// An init the marker does not support fails with a message that says
// which ones it supports and how to build without it; no marker (no boot
// test) adds nothing for any init.
func TestTheMarkerOfAnUnsupportedInit(t *testing.T) {
	rec := &records{hostname: "h", init: "sysvinit"}
	if _, err := rec.liveFiles("LINUX-BUILDER-BOOT-OK run=1"); err == nil || !strings.Contains(err.Error(), "systemd, openrc, runit, s6") ||
		!strings.Contains(err.Error(), "--no-boot-test") {
		t.Errorf("sysvinit: %v", err)
	}
	for _, init := range append(MarkerInits, "sysvinit") {
		rec.init = init
		fs, err := rec.liveFiles("")
		if err != nil || len(fs) != 3 {
			t.Errorf("%s without a marker: %d files (%v)", init, len(fs), err)
		}
	}
}

// The real step, for each init the marker supports: the ISO built for a
// boot test has the init's marker files in its squashfs, and the ISO
// built without one (--no-boot-test) has none of any init's.
func TestTheISOHasTheMarkerOnlyWhenBootTested(t *testing.T) {
	for _, init := range MarkerInits {
		t.Run(init, func(t *testing.T) {
			entries := image(reg("etc/linux-builder/boot-files", strings.Replace(bootFiles, "INIT=systemd", "INIT="+init, 1)),
				dir("etc/init.d"), dir("etc/runlevels"), dir("etc/runlevels/default"), dir("etc/sv"),
				// An image's own marker files are dropped.
				reg("etc/init.d/linux-builder-boot-marker", "IMAGE-OWN"),
				reg("etc/sv/linux-builder-boot-marker/down", "IMAGE-OWN"),
				// Debian's runit: /etc/service -> runit/runsvdir/current -> default.
				dir("etc/runit"), dir("etc/runit/runsvdir"), dir("etc/runit/runsvdir/default"),
				symlink("etc/runit/runsvdir/current", "default"), symlink("etc/service", "runit/runsvdir/current"),
				dir("etc/s6"), dir("etc/s6/scandir"), reg("etc/s6/sv/linux-builder-boot-marker/run", "IMAGE-OWN"))
			want := map[string][]string{
				"systemd": {markerUnit, markerWant},
				"openrc":  {markerOpenRC, markerOpenRCLink},
				"runit":   {markerRunitRun, markerRunitLink},
				"s6":      {markerS6Run, markerS6Link},
			}[init]
			for _, marker := range []string{"LINUX-BUILDER-BOOT-OK run=5", ""} {
				out, err := buildISO(t, entries, marker)
				if err != nil {
					t.Fatal(err)
				}
				files := isoFiles(t, out)
				for name, body := range files {
					if strings.Contains(body, "IMAGE-OWN") {
						t.Errorf("the image's own %s was kept", name)
					}
					if marker == "" && strings.Contains(name, "boot-marker") {
						t.Errorf("without a boot test the live system has %s", name)
					}
				}
				// The links of Debian's runit are left alone.
				if files["squashfs:etc/service"] != "-> runit/runsvdir/current" || files["squashfs:etc/runit/runsvdir/current"] != "-> default" {
					t.Errorf("/etc/service is %q, current %q", files["squashfs:etc/service"], files["squashfs:etc/runit/runsvdir/current"])
				}
				if marker == "" {
					continue
				}
				for _, name := range want {
					if body, ok := files["squashfs:"+name]; !ok || (!strings.HasPrefix(body, "-> /") && !strings.Contains(body, marker)) {
						t.Errorf("the live system's %s is %q", name, body)
					}
				}
			}
		})
	}
}

// An OpenRC image whose /etc/init.d is not a directory (the step does
// not force it: Fedora's is a link) gets no ISO with a marker, and a
// clear reason; a runit image whose default runsvdir is a link gets a
// directory there.
func TestTheMarkersDirectoriesInAHostileImage(t *testing.T) {
	openrc := strings.Replace(bootFiles, "INIT=systemd", "INIT=openrc", 1)
	_, err := buildISO(t, image(reg("etc/linux-builder/boot-files", openrc), symlink("etc/init.d", "rc.d/init.d")), "LINUX-BUILDER-BOOT-OK run=5")
	if err == nil || !strings.Contains(err.Error(), "/etc/init.d is not a directory in the image") {
		t.Errorf("openrc with /etc/init.d a link: %v", err)
	}
	runit := strings.Replace(bootFiles, "INIT=systemd", "INIT=runit", 1)
	out, err := buildISO(t, image(reg("etc/linux-builder/boot-files", runit), symlink("etc/runit", "/tmp")), "LINUX-BUILDER-BOOT-OK run=5")
	if err != nil {
		t.Fatal(err)
	}
	files := isoFiles(t, out)
	if files["squashfs:etc/runit"] != "dir" || files["squashfs:"+markerRunitLink] != "-> /"+markerRunitDir {
		t.Errorf("etc/runit %q, the marker's link %q", files["squashfs:etc/runit"], files["squashfs:"+markerRunitLink])
	}
}

// The attack: the marker's scripts looked for the boot-test parameter with
// grep -w, where "." matches any character and a word may be part of a
// parameter: a.linux-builder.boot-test, linux-builderXboot-test or
// linux-builder.boot-test=0 (a spec's or an image's kernel parameters)
// armed the marker on users' machines. The gate accepts the parameter
// alone, as a whole word of the command line.
func TestBootTestGateWantsTheWholeParameter(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		armed   bool
	}{
		{"BOOT_IMAGE=/live/vmlinuz boot=live linux-builder.boot-test\n", true},
		{"linux-builder.boot-test quiet\n", true},
		{"quiet linux-builder.boot-test panic=10\n", true},
		{"quiet\n", false},
		{"quiet a=linux-builder.boot-test\n", false},
		{"quiet linux-builderXboot-test\n", false},
		{"quiet linux-builder.boot-test=0\n", false},
		{"quiet xlinux-builder.boot-test\n", false},
		{"", false},
	} {
		f := filepath.Join(t.TempDir(), "cmdline")
		if err := os.WriteFile(f, []byte(tc.cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
		script := strings.ReplaceAll(bootTestGate, "/proc/cmdline", f)
		if script == bootTestGate {
			t.Fatal("the gate does not read /proc/cmdline")
		}
		err := exec.Command("/bin/sh", "-c", script).Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if armed := err == nil; armed != tc.armed {
			t.Errorf("command line %q: armed = %v, want %v", tc.cmdline, armed, tc.armed)
		}
	}
}
