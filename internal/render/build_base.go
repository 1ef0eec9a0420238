package render

import (
	"fmt"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// newModelBuilder makes the decisions of the spec's base (the distribution,
// its release and init system, what spec/rules.go checks): the base image,
// the spec hash, the distribution's commands and its own packages.
func (r *Renderer) newModelBuilder(doc *spec.Document, opts Options) (*modelBuilder, error) {
	s := doc.Spec
	d, err := distroFor(s.Base)
	if err != nil {
		return nil, err
	}
	image := d.image(s.Release, s.Init)
	if img, ok := opts.Images[s.Base]; ok {
		image = img
	}
	hash, err := specHash(s, opts, image)
	if err != nil {
		return nil, err
	}
	m := &model{
		Spec: s, SpecHash: hash, Image: image, Title: string(s.Name), Init: string(s.Init), Base: string(s.Base),
		Hostname: hostname(s), Timezone: opts.Timezone, Locale: "C.UTF-8",
		Env: d.env, Prepare: d.prepare, Refresh: d.refresh, Upgrade: d.upgrade, Install: d.install, Cleanup: d.cleanup,
		Initramfs: d.initramfs, AdminGroup: d.adminGroup, RunitDir: d.runitDir, GrubDefaultDir: d.grubDefaultDir,
		OwnS6: d.ownS6 && s.Init == spec.InitS6,
	}
	b := buildSpeedups(d, s.Defaults.Documentation)
	m.Prepare, m.Install, m.SystemFiles, m.SystemCleanup, m.KeepIndex = b.prepare, b.install, b.files, b.cleanup, b.keepIndex
	m.Finish, m.RemoveHostKeys = removeHostKeys, removeHostKeys
	if d.finish != "" {
		m.Finish = d.finish + " && " + removeHostKeys
	}
	buildHostKeys(d, m)
	if d.initramfsOnce != nil {
		m.InitramfsDefer, m.InitramfsBuild = d.initramfsOnce.deferEnv, d.initramfsOnce.build
	}
	if m.Title == "" {
		m.Title = "linux-build"
	}
	excluded := map[string]bool{}
	for _, n := range s.Packages.Excluded {
		excluded[string(n)] = true
	}
	sys := &packageSet{m: r.packages, base: s.Base, excluded: map[string]bool{}, seen: map[string]bool{}}
	sys.addRaw(d.base...)
	sys.addRaw(d.kernel(s)...)
	sys.addRaw(d.live...)
	sys.addRaw(d.initPkgs[s.Init]...)
	if s.SignedBootChain() {
		sys.addRaw(d.signedBoot...)
	}
	if s.HasInstaller() {
		sys.addRaw(d.installer...)
	}
	return &modelBuilder{
		r: r, doc: doc, s: s, d: d, opts: opts, m: m, excluded: excluded,
		sys: sys, feat: &packageSet{m: r.packages, base: s.Base, excluded: excluded, seen: sys.seen},
	}, nil
}

// buildKernel adds the spec's kernel parameters after those the MAC and
// the hardening level asked for, and the modules loaded at boot.
func buildKernel(b *modelBuilder) error {
	m := b.m
	for _, p := range b.s.Defaults.KernelParams {
		m.KernelCmdline = append(m.KernelCmdline, string(p))
	}
	m.KernelCmdline = uniq(m.KernelCmdline)
	for _, mod := range b.s.Kernel.Modules {
		m.Modules = append(m.Modules, string(mod))
	}
	m.Modules = uniq(m.Modules)
	return nil
}

// buildBootloader installs systemd-boot when the spec asks for it: the
// disk step boots UEFI machines with the image's own systemd-boot (GRUB
// otherwise, and on BIOS; the ISO always boots with GRUB).
func buildBootloader(b *modelBuilder) error {
	if b.s.Customization.Bootloader == spec.BootSystemdBoot {
		b.feature("customization.bootloader", "systemd-boot")
	}
	return nil
}

// buildMAC configures the mandatory access control the spec asks for
// (AppArmor first: spec/rules.go refuses both at once).
func buildMAC(b *modelBuilder) error {
	s, m := b.s, b.m
	mac := s.SecurityFeatures.MAC
	switch {
	case mac.Has(spec.MACAppArmor) && b.feature("securityFeatures.mac", "apparmor"):
		m.AppArmor = true
		m.KernelCmdline = append(m.KernelCmdline, "apparmor=1", "security=apparmor")
		if s.Init == spec.InitSystemd || s.Init == spec.InitOpenRC {
			b.enable("apparmor")
		}
	case mac.Has(spec.MACSELinux) && b.feature("securityFeatures.mac", "selinux"):
		m.SELinux = true
		m.KernelCmdline = append(m.KernelCmdline, "selinux=1", "security=selinux")
	}
	return nil
}

// buildSysctl decides the kernel settings: the hardening level's (strict
// includes basic, and adds kernel parameters), then swappiness, then the
// spec's own sysctls, each overriding the ones before.
func buildSysctl(b *modelBuilder) error {
	s, m := b.s, b.m
	level := spec.HardeningLevel(s.SecurityFeatures.KernelHardening)
	sysctl := map[string]string{}
	if level == spec.HardeningBasic || level == spec.HardeningStrict {
		for _, kv := range hardeningSysctl[spec.HardeningBasic] {
			sysctl[kv.Key] = kv.Value
		}
	}
	if level == spec.HardeningStrict {
		for _, kv := range hardeningSysctl[spec.HardeningStrict] {
			sysctl[kv.Key] = kv.Value
		}
		m.KernelCmdline = append(m.KernelCmdline, strictCmdline...)
	}
	if s.Defaults.Swappiness != nil {
		sysctl["vm.swappiness"] = fmt.Sprint(*s.Defaults.Swappiness)
	}
	for k, v := range s.PostInstall.SystemTuning.Sysctl {
		sysctl[string(k)] = string(v)
	}
	m.Sysctl = sortedKV(sysctl)
	return nil
}

// speedups are the package manager settings of the shared system image.
type speedups struct {
	prepare, install, cleanup string
	files                     []keyValue
	keepIndex                 bool
}

// buildSpeedups decides how the system image installs packages fast: the
// build-only settings (dpkg's unsafe I/O), no documentation unless the
// spec asks for it, and an index kept for the spec's package layer.
func buildSpeedups(d *distro, documentation bool) speedups {
	out := speedups{prepare: d.prepare, install: d.install, cleanup: d.cleanup}
	out.files = append(out.files, d.buildOnly...)
	if !documentation {
		out.files = append(out.files, d.noDocs.files...)
		if d.noDocs.install != "" {
			out.install += " " + d.noDocs.install
		}
		if d.noDocs.prepare != "" {
			if out.prepare != "" {
				out.prepare += " && \\\n    "
			}
			out.prepare += d.noDocs.prepare
		}
	}
	if d.systemCleanup != "" {
		out.cleanup, out.keepIndex = d.systemCleanup, true
	}
	return out
}
