package spec

import "strings"

// ReservedKernelParam reports whether a kernel parameter is the boot
// test's: the parameter that arms the boot-test marker (and any other in
// Linux Builder's namespace), or one that spells the console line the
// boot test takes as Secure Boot's proof (the kernel echoes its command
// line on the console). A spec or an image that sets one could arm the
// marker on users' machines or fake the proof. The installer's parameters
// (lb.install=DEV, lb.install.*) are reserved too: on the live system's
// every boot they would erase that disk.
func ReservedKernelParam(p string) bool {
	l := strings.ToLower(p)
	return strings.Contains(l, "linux-builder") || strings.Contains(l, "secureboot:") || strings.HasPrefix(l, "lb.install")
}

// kernelSeries is the kernel series each stable release packages (Debian's
// linux-image-*, Ubuntu's GA linux-image-generic, Alpine's linux-lts): the
// only version a pin can name on that release, since no kernel is compiled
// from source. Rolling releases (and those not listed) package whatever is
// current, so a pin cannot be checked there and is refused.
var kernelSeries = map[Base]map[Release]string{
	BaseDebian: {"bullseye": "5.10", "11": "5.10", "bookworm": "6.1", "12": "6.1", "trixie": "6.12", "13": "6.12"},
	BaseUbuntu: {"20.04": "5.4", "focal": "5.4", "22.04": "5.15", "jammy": "5.15", "24.04": "6.8", "noble": "6.8",
		"24.10": "6.11", "oracular": "6.11", "25.04": "6.14", "plucky": "6.14"},
	BaseAlpine: {"3.18": "6.1", "3.19": "6.6", "3.20": "6.6", "3.21": "6.12"},
}

// oneKernel are the distributions whose packaged kernel does not depend on
// lts or latest, and the value that would mislead: Debian has one series
// per release, a long-term one, so latest is no newer; Fedora and openSUSE
// ship only their current stable kernel, and Gentoo's gentoo-kernel-bin
// follows the newest stable series, so lts is no long-term series there.
var oneKernel = map[Base]struct{ misleading, why string }{
	BaseDebian:   {"latest", "Debian packages one kernel series per release, a long-term one"},
	BaseFedora:   {"lts", "Fedora packages only its current stable kernel, not a long-term series"},
	BaseOpenSUSE: {"lts", "openSUSE packages one kernel (kernel-default), not a long-term series"},
	BaseGentoo:   {"lts", "the binary Gentoo kernel (gentoo-kernel-bin) follows the newest stable series, not a long-term one"},
}

// ruleKernelVersion refuses pins the distribution's packages cannot
// satisfy, and says when lts and latest install the same kernel.
func ruleKernelVersion(c *ruleCtx) {
	v := string(c.s.Kernel.Version)
	base, rel := c.s.Base, c.s.Release
	switch v {
	case "lts", "latest":
		if one, ok := oneKernel[base]; ok && one.misleading == v && c.set("kernel.version") {
			c.warnf("kernel.version", "", "%s: kernel %s installs the same kernel as %s", one.why, v, map[string]string{"lts": "latest", "latest": "lts"}[v])
		}
		return
	}
	series, known := kernelSeries[base][rel]
	switch {
	case !known:
		c.errorf("kernel.version", "use lts or latest",
			"kernel %s cannot be pinned on %s %s: its packaged kernel changes with the archive, and kernels are not compiled from source yet", v, distroName[base], rel)
	case v == series:
	case strings.HasPrefix(v, series+"."):
		c.errorf("kernel.version", "pin the series, "+series+", or use lts",
			"%s %s packages the latest %s point release only; an exact point release cannot be pinned, and kernels are not compiled from source yet", distroName[base], rel, series)
	default:
		c.errorf("kernel.version", "use "+series+", lts or latest",
			"%s %s packages kernel %s, not %s, and kernels are not compiled from source yet", distroName[base], rel, series, v)
	}
}
