package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// User names the console user of an image whose spec has no users. It has
// no usable password (nothing can log in as it over the network) and logs
// in automatically on the console.
type User struct {
	Name string
}

// Options configure a Renderer. The zero value is usable.
type Options struct {
	// Images overrides the base image per distribution ("debian" →
	// "registry.local/debian:bookworm").
	Images map[spec.Base]string
	// User is the console user of specs without users; default live.
	User User
	// Timezone is an /usr/share/zoneinfo name; default UTC.
	Timezone string
}

func (o Options) withDefaults() Options {
	if o.User.Name == "" {
		o.User.Name = "live"
	}
	if o.Timezone == "" {
		o.Timezone = "UTC"
	}
	return o
}

func (o Options) validate() error {
	if !reUser.MatchString(o.User.Name) {
		return fmt.Errorf("user name %q: want lower-case letters, digits, _ and -, starting with a letter", o.User.Name)
	}
	if !reTimezone.MatchString(o.Timezone) {
		return fmt.Errorf("timezone %q: want a name such as Europe/Paris", o.Timezone)
	}
	for b, img := range o.Images {
		if !reImage.MatchString(img) {
			return fmt.Errorf("image for %s: %q is not an image reference", b, img)
		}
	}
	return nil
}

// specHash identifies what the build depends on besides the renderer's own
// templates: the normalised spec and the options.
func specHash(s *spec.Spec, opts Options, image string) (string, error) {
	b, err := json.Marshal(struct {
		Spec     *spec.Spec
		User     User
		Timezone string
		Image    string
	}{s, opts.User, opts.Timezone, image})
	if err != nil {
		return "", fmt.Errorf("hash spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// buildModel makes every rendering decision for doc's spec on its base.
func (r *Renderer) buildModel(doc *spec.Document, opts Options) (*model, spec.Diagnostics, error) {
	s := doc.Spec
	d, err := distroFor(s.Base)
	if err != nil {
		return nil, nil, err
	}
	var warns spec.Diagnostics
	warn := func(path, format string, args ...any) {
		warns = append(warns, spec.Diagnostic{
			File: doc.File, Pos: doc.Pos(path), Severity: spec.SeverityWarning, Code: spec.CodeRule,
			Path: path, Message: fmt.Sprintf(format, args...),
		})
	}
	image := d.image(s.Release, s.Init)
	if img, ok := opts.Images[s.Base]; ok {
		image = img
	}
	hash, err := specHash(s, opts, image)
	if err != nil {
		return nil, nil, err
	}
	m := &model{
		Spec: s, SpecHash: hash, Image: image, Title: string(s.Name), Init: string(s.Init), Base: string(s.Base),
		Hostname: hostname(s), Timezone: opts.Timezone, Locale: "C.UTF-8",
		Env: d.env, Prepare: d.prepare, Refresh: d.refresh, Install: d.install, Cleanup: d.cleanup,
		Initramfs: d.initramfs, AdminGroup: d.adminGroup, RunitDir: d.runitDir, GrubDefaultDir: d.grubDefaultDir,
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
	feat := &packageSet{m: r.packages, base: s.Base, excluded: excluded, seen: sys.seen}
	// feature adds the package a spec feature needs and reports whether
	// the feature can be configured: a package the distribution lacks, or
	// one the spec excludes (packages: {name: false}), leaves the feature
	// out with a warning at its path rather than a broken build.
	feature := func(path, name string) bool {
		if excluded[name] {
			warn(path, "%s is excluded by packages, so this feature is not configured", name)
			return false
		}
		if ok, _ := feat.add(name); !ok {
			warn(path, "%s is not packaged for %s; this feature is left out", name, s.Base)
			return false
		}
		return true
	}
	m.Services = nil
	enable := func(names ...string) {
		for _, n := range names {
			if !slices.Contains(m.Services, n) {
				m.Services = append(m.Services, n)
			}
		}
	}

	sec := s.SecurityFeatures
	if sec.SSH.Enable && feature("securityFeatures.ssh", "openssh") {
		ssh := sec.SSH
		m.SSH = &ssh
		enable(d.sshService)
	}
	if sec.Firewall.IsEnabled() && feature("securityFeatures.firewall.backend", string(sec.Firewall.Backend)) {
		fw := &firewallModel{Backend: string(sec.Firewall.Backend), Policy: string(sec.Firewall.DefaultPolicy)}
		for _, p := range sec.Firewall.AllowedPorts {
			pr := portRange{int(p.From), int(p.To)}
			if p.Proto == "udp" {
				fw.UDP = append(fw.UDP, pr)
			} else {
				fw.TCP = append(fw.TCP, pr)
			}
		}
		if m.SSH != nil {
			fw.TCP = append(fw.TCP, portRange{m.SSH.Port, m.SSH.Port})
		}
		fw.TCP, fw.UDP = mergePorts(fw.TCP), mergePorts(fw.UDP)
		for _, c := range []string{"docker", "podman"} {
			fw.ForwardAccept = fw.ForwardAccept || slices.Contains(s.Packages.Names(), c)
		}
		m.Firewall = fw
		if fw.Backend == "ufw" {
			enable("ufw")
		} else {
			m.BootTasks = true
		}
	}
	if m.SSH != nil && sec.SSH.Fail2ban && feature("securityFeatures.ssh.fail2ban", "fail2ban") {
		f := &fail2banModel{Port: sec.SSH.Port, Backend: "auto", Banaction: "nftables-multiport", BanactionAll: "nftables-allports"}
		if s.Init == spec.InitSystemd {
			f.Backend = "systemd"
			if s.Base == spec.BaseDebian || s.Base == spec.BaseUbuntu {
				feat.addRaw("python3-systemd")
			}
		}
		if m.Firewall != nil {
			switch m.Firewall.Backend {
			case "iptables":
				f.Banaction, f.BanactionAll = "iptables-multiport", "iptables-allports"
			case "ufw":
				f.Banaction, f.BanactionAll = "ufw", "ufw"
			}
		}
		m.Fail2ban = f
		enable("fail2ban")
	}
	switch {
	case sec.MAC.Has(spec.MACAppArmor) && feature("securityFeatures.mac", "apparmor"):
		m.AppArmor = true
		m.KernelCmdline = append(m.KernelCmdline, "apparmor=1", "security=apparmor")
		if s.Init == spec.InitSystemd || s.Init == spec.InitOpenRC {
			enable("apparmor")
		}
	case sec.MAC.Has(spec.MACSELinux) && feature("securityFeatures.mac", "selinux"):
		m.SELinux = true
		m.KernelCmdline = append(m.KernelCmdline, "selinux=1", "security=selinux")
	}
	level := spec.HardeningLevel(sec.KernelHardening)
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
	for _, p := range s.Defaults.KernelParams {
		m.KernelCmdline = append(m.KernelCmdline, string(p))
	}
	m.KernelCmdline = uniq(m.KernelCmdline)
	for _, mod := range s.Kernel.Modules {
		m.Modules = append(m.Modules, string(mod))
	}
	m.Modules = uniq(m.Modules)

	// Scheduled jobs.
	if sec.Updates.Automatic {
		self := d.selfUpdates
		if s.Init != spec.InitSystemd {
			self = "" // their timers are systemd units: use a job instead
		}
		switch self {
		case "unattended-upgrades":
			if feature("securityFeatures.updates.automatic", "unattended-upgrades") {
				m.SelfUpdates = d.selfUpdates
			}
		case "dnf-automatic":
			if feature("securityFeatures.updates.automatic", "unattended-upgrades") {
				m.SelfUpdates = d.selfUpdates
				m.SystemdTimers = append(m.SystemdTimers, "dnf-automatic-install.timer")
			}
		default:
			j, err := newJob("update", "Upgrade all packages", d.updateCmd, "daily")
			if err != nil {
				return nil, nil, err
			}
			m.Jobs = append(m.Jobs, j)
		}
	}
	if s.Defaults.Trim {
		if s.Init == spec.InitSystemd {
			m.SystemdTimers = append(m.SystemdTimers, "fstrim.timer")
		} else {
			j, err := newJob("trim", "Discard unused blocks on SSDs", "fstrim -av", "weekly")
			if err != nil {
				return nil, nil, err
			}
			m.Jobs = append(m.Jobs, j)
		}
	}
	if b := s.Backup; b.Tool != "none" && feature("backup.tool", string(b.Tool)) {
		m.Backup = true
		if b.Tool == "snapper" && s.Init == spec.InitSystemd {
			m.SystemdTimers = append(m.SystemdTimers, "snapper-timeline.timer", "snapper-cleanup.timer")
		} else {
			j, err := newJob("backup", "Back up the system with "+string(b.Tool), "/usr/local/lib/linux-builder/backup.sh", b.Schedule)
			if err != nil {
				return nil, nil, err
			}
			m.Jobs = append(m.Jobs, j)
		}
	}
	if s.Init == spec.InitSystemd {
		for _, j := range m.Jobs {
			m.SystemdTimers = append(m.SystemdTimers, "linux-builder-"+j.Name+".timer")
		}
	}
	if len(m.Jobs) > 0 && s.Init != spec.InitSystemd {
		feat.addRaw(d.cronPkg...)
		enable(d.cronService)
		m.CronFile = "/etc/cron.d/linux-builder"
		if s.Base == spec.BaseAlpine {
			m.CronFile = "crontabs"
		}
	}

	// Tuning.
	tune := s.PostInstall.SystemTuning
	m.CPUGovernor, m.IOScheduler, m.Zram = string(tune.CPUGovernor), string(tune.IOScheduler), tune.Zram
	if m.CPUGovernor != "" || m.Zram {
		m.BootTasks = true
	}
	if m.BootTasks {
		enable("linux-builder-boot")
	}
	if s.Defaults.DNSOverHTTPS {
		if pkgs, _ := r.packages.resolve("dnscrypt-proxy", s.Base); len(pkgs) == 0 && s.Init == spec.InitSystemd {
			// Fall back to systemd-resolved's DNS over TLS: encrypted
			// too, though not over HTTPS.
			warn("defaults.dnsOverHttps", "dnscrypt-proxy is not packaged for %s %s; DNS is encrypted with systemd-resolved's DNS over TLS instead", s.Base, s.Release)
			if s.Base == spec.BaseDebian || s.Base == spec.BaseUbuntu {
				feat.addRaw("systemd-resolved")
			}
			m.DoT = true
			enable("systemd-resolved")
		} else if feature("defaults.dnsOverHttps", "dnscrypt-proxy") {
			m.DoH = true
			enable("dnscrypt-proxy")
		}
	}
	if s.Defaults.MACRandomization && feature("defaults.macRandomization", "networkmanager") {
		m.MACRandom = true
		enable("NetworkManager")
	}

	// Desktop.
	disp := s.Display
	switch disp.Server {
	case spec.DisplayXorg:
		feature("display.server", "xorg")
	case spec.DisplayWayland:
		feature("display.server", "wayland")
	}
	for _, c := range []struct{ path, value string }{
		{"display.compositor", string(disp.Compositor)}, {"display.bar", string(disp.Bar)}, {"display.launcher", string(disp.Launcher)},
		{"display.terminal", string(disp.Terminal)}, {"display.notifications", string(disp.Notifications)}, {"display.lockscreen", string(disp.Lockscreen)},
	} {
		if c.value != "" && c.value != "none" {
			feature(c.path, c.value)
		}
	}

	// Shell.
	cu := s.Customization
	m.Shell = string(cu.Shell)
	if cu.Shell != spec.ShellBash && !feature("customization.shell", string(cu.Shell)) {
		m.Shell = string(spec.ShellBash)
	}
	if fw, ok := frameworks[cu.ShellFramework]; ok && frameworkShell(cu.ShellFramework) == m.Shell {
		fw.Name = string(cu.ShellFramework)
		m.Framework = &fw
	}
	switch {
	case !cu.Starship:
	case !d.starshipPkg:
		m.Starship, m.StarshipScript = true, true
	case feature("customization.starship", "starship"):
		m.Starship = true
	}
	m.Dotfiles = cu.Dotfiles
	if err := buildUsers(m, s, opts, feature); err != nil {
		return nil, nil, err
	}

	// Services.
	for _, group := range []struct {
		path  string
		names []string
	}{
		{"services.databases", toStrings(s.Services.Databases)},
		{"services.monitoring", toStrings(s.Services.Monitoring)},
		{"services.ai", toStrings(s.Services.AI)},
	} {
		for i, n := range group.names {
			p := fmt.Sprintf("%s[%d]", group.path, i)
			if ok, _ := feat.add(n); !ok {
				warn(p, "%s is not packaged for %s; install it from its vendor in a postInstall script", n, s.Base)
				continue
			}
			if cmd := dataInit[n][s.Base]; cmd != "" {
				m.DataInit = append(m.DataInit, cmd)
			}
			if !noDaemon[n] {
				enable(serviceName(n, s.Base))
			}
		}
	}

	// Requested packages.
	user := &packageSet{m: r.packages, base: s.Base, excluded: excluded, seen: sys.seen}
	for i, it := range s.Packages.Items {
		p := packagePath(s.Packages, i)
		ok, known := user.add(string(it.Name))
		switch {
		case !ok:
			warn(p, "%s is not packaged for %s; it is left out", it.Name, s.Base)
		case !known:
			warn(p, "%s has no cross-distribution mapping; it is installed under that name on %s", it.Name, s.Base)
		}
	}
	for _, u := range s.PostInstall.Services {
		enable(string(u))
	}
	m.SystemPackages = sys.list
	m.UserPkgs = append(feat.list, user.list...)
	for i, sc := range s.PostInstall.Scripts {
		m.Scripts = append(m.Scripts, scriptFile{File: fmt.Sprintf("%02d-%s", i+1, sc.Name), Name: string(sc.Name)})
	}
	if s.Init == spec.InitS6 || (s.Init == spec.InitRunit && s.Base != spec.BaseVoid) {
		m.Foreground = sortedKV(foreground)
	}
	return m, warns, nil
}

func packagePath(p spec.Packages, i int) string {
	if p.Form == spec.PackageFormList {
		return fmt.Sprintf("packages[%d]", i)
	}
	it := p.Items[i]
	if p.Form == spec.PackageFormMap {
		return "packages." + string(it.Name)
	}
	n := 0
	for j := 0; j < i; j++ {
		if p.Items[j].Category == it.Category {
			n++
		}
	}
	return fmt.Sprintf("packages.%s[%d]", it.Category, n)
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// mergePorts sorts port ranges and merges overlapping ones, so rule sets
// have no duplicate elements (nft refuses overlapping set elements).
func mergePorts(ps []portRange) []portRange {
	slices.SortFunc(ps, func(a, b portRange) int { return a.From - b.From })
	var out []portRange
	for _, p := range ps {
		if n := len(out); n > 0 && p.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, p.To)
			continue
		}
		out = append(out, p)
	}
	return out
}
