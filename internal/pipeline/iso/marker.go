package iso

import (
	"archive/tar"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The boot-test marker: a service of the system's init that prints the
// marker on the serial console and powers the machine off, but only when
// the kernel command line has BootTestParam, which the boot loader adds
// only on a boot-test machine (pipeline.BootTestSMBIOSFamily). The ISO or
// disk a user boots is the same file, and there the marker does nothing.
// Each init gets its own kind of service, at a path only that init reads:
//
//   - systemd: a oneshot unit, wanted by multi-user.target, gated by
//     ConditionKernelCommandLine;
//   - OpenRC: an openrc-run script in /etc/init.d, in the default
//     runlevel, after every other service (local.d is not used: Debian's
//     openrc ships no "local" service, Alpine does not enable it);
//   - runit: a service in /etc/sv linked into the default runsvdir
//     (/etc/runit/runsvdir/default on Debian, Void and Gentoo), which
//     asks its supervisor not to start it again;
//   - s6: the same in /etc/s6/sv, linked into /etc/s6/scandir, the scan
//     directory of Linux Builder's s6 stage 1 (templates/context/s6-init.tmpl).
const (
	markerUnit       = "etc/systemd/system/linux-builder-boot-marker.service"
	markerWant       = "etc/systemd/system/multi-user.target.wants/linux-builder-boot-marker.service"
	markerOpenRC     = "etc/init.d/linux-builder-boot-marker"
	markerOpenRCLink = "etc/runlevels/default/linux-builder-boot-marker"
	markerRunitDir   = "etc/sv/linux-builder-boot-marker"
	markerRunitRun   = markerRunitDir + "/run"
	markerRunitLink  = "etc/runit/runsvdir/default/linux-builder-boot-marker"
	markerS6Dir      = "etc/s6/sv/linux-builder-boot-marker"
	markerS6Run      = markerS6Dir + "/run"
	markerS6Link     = "etc/s6/scandir/linux-builder-boot-marker"
)

// markerNames are the marker's files for every init: the image's entries
// of these names (and anything under the runit service's directory) are
// dropped, whichever init the image has.
var markerNames = map[string]bool{
	markerUnit: true, markerWant: true, markerOpenRC: true, markerOpenRCLink: true,
	markerRunitRun: true, markerRunitLink: true, markerS6Run: true, markerS6Link: true,
}

// ownedMarker reports whether name is the step's for the marker.
func ownedMarker(name string) bool {
	return markerNames[name] || strings.HasPrefix(name, markerRunitDir+"/") || strings.HasPrefix(name, markerS6Dir+"/")
}

// markerDirs are the directories above the marker's files that the
// rewriter forces to be directories (an image's symbolic link there is
// replaced by a directory): only directories no other init's system uses
// for anything else. /etc/init.d is not forced (Fedora's is a link to
// rc.d/init.d): when an OpenRC image's is not a directory, adding the
// marker fails (rewriter.add).
func markerDirs() []string {
	return []string{path.Dir(markerWant), path.Dir(markerOpenRCLink), markerRunitDir, path.Dir(markerRunitLink), markerS6Dir, path.Dir(markerS6Link)}
}

// bootTestGate is the marker scripts' shell test of the boot-test signal:
// it succeeds only when BootTestParam is one of the kernel's parameters,
// whole (grep -w also took a.linux-builder.boot-test, a "." for any
// character, and linux-builder.boot-test=0).
const bootTestGate = "tr ' ' '\\n' </proc/cmdline | grep -qxF " + BootTestParam

// markerText is what a marker may be: it goes into single-quoted shell
// words and a unit file, so no quote, backslash, expansion, separator or
// systemd specifier (%) character, and one line.
var markerText = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:=+,@/-]{0,127}$`)

// MarkerInits are the inits the boot-test marker supports.
var MarkerInits = []string{"systemd", "openrc", "runit", "s6"}

// markerFiles appends to fs the boot-test marker for the system's init.
func (r *records) markerFiles(fs []file, marker string) ([]file, error) {
	if marker == "" {
		return fs, nil
	}
	if !markerText.MatchString(marker) {
		return nil, fmt.Errorf("boot-test marker %q: only letters, digits, spaces and . _ : = + , @ / - are allowed", clip(marker))
	}
	const gate = bootTestGate
	switch r.init {
	case "systemd":
		unit := "[Unit]\nDescription=Linux Builder boot test marker (runs only with " + BootTestParam + " on the kernel command line)\n" +
			"ConditionKernelCommandLine=" + BootTestParam + "\nAfter=multi-user.target\n\n[Service]\nType=oneshot\n" +
			"ExecStart=/bin/sh -c 'echo " + marker + " > /dev/ttyS0; systemctl --no-block poweroff'\n\n[Install]\nWantedBy=multi-user.target\n"
		return append(fs,
			file{name: markerUnit, mode: 0o644, typ: tar.TypeReg, body: unit},
			file{name: markerWant, mode: 0o777, typ: tar.TypeSymlink, body: "/" + markerUnit}), nil
	case "openrc":
		script := "#!/sbin/openrc-run\n# Linux Builder boot test marker: prints a line on the serial console and powers the\n" +
			"# machine off, only with " + BootTestParam + " on the kernel command line.\n" +
			"description=\"Linux Builder boot test marker\"\n\ndepend() {\n\tafter *\n}\n\n" +
			"start() {\n\t" + gate + " || return 0\n\techo '" + marker + "' > /dev/ttyS0\n\tpoweroff\n}\n"
		return append(fs,
			file{name: markerOpenRC, mode: 0o755, typ: tar.TypeReg, body: script},
			file{name: markerOpenRCLink, mode: 0o777, typ: tar.TypeSymlink, body: "/" + markerOpenRC}), nil
	case "runit":
		// runsv starts run again a second after it ends unless told
		// otherwise: "sv once" (the test) and "sv down" (a user's boot)
		// tell it.
		return append(fs, supervised(markerRunitDir, markerRunitLink, "sv down .", "sv once .", marker)...), nil
	case "s6":
		// s6-supervise likewise: s6-svc -O runs it once, -d stops it.
		return append(fs, supervised(markerS6Dir, markerS6Link, "s6-svc -d .", "s6-svc -O .", marker)...), nil
	default:
		return nil, fmt.Errorf("the boot-test marker is not supported for init %q (it is for %s); build with --no-boot-test",
			r.init, strings.Join(MarkerInits, ", "))
	}
}

// supervised is the marker as a supervised service (runit, s6): the
// service directory dir with its run script, linked as link. Without
// BootTestParam the script takes its service down (down) and, should
// that fail, sleeps, so a user's machine never runs it every second; with
// it the script asks to run once (once), prints the marker and powers off.
func supervised(dir, link, down, once, marker string) []file {
	script := "#!/bin/sh\n# Linux Builder boot test marker: prints a line on the serial console and powers the\n" +
		"# machine off, only with " + BootTestParam + " on the kernel command line.\nexec 2>&1\n" +
		"if ! " + bootTestGate + "; then\n\t" + down + " >/dev/null 2>&1\n\texec sleep 2147483647\nfi\n" +
		once + " >/dev/null 2>&1\necho '" + marker + "' > /dev/ttyS0\nexec poweroff\n"
	return []file{
		{name: dir, mode: 0o755, typ: tar.TypeDir},
		{name: dir + "/run", mode: 0o755, typ: tar.TypeReg, body: script},
		{name: link, mode: 0o777, typ: tar.TypeSymlink, body: "/" + dir},
	}
}
