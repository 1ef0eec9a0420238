package render

import (
	"strings"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// buildTrim discards unused blocks weekly: systemd's fstrim.timer, or a job.
func buildTrim(b *modelBuilder) error {
	if !b.s.Defaults.Trim {
		return nil
	}
	if b.s.Init == spec.InitSystemd {
		b.m.SystemdTimers = append(b.m.SystemdTimers, "fstrim.timer")
		return nil
	}
	return b.addJob("trim", "Discard unused blocks on SSDs", "fstrim -av", "weekly")
}

// buildBackup installs the backup tool and schedules it: snapper's own
// timers on systemd, a job running backup.sh otherwise.
func buildBackup(b *modelBuilder) error {
	bk := b.s.Backup
	if bk.Tool == "none" || !b.feature("backup.tool", string(bk.Tool)) {
		return nil
	}
	b.m.Backup = true
	if bk.Tool == "snapper" && b.s.Init == spec.InitSystemd {
		b.m.SystemdTimers = append(b.m.SystemdTimers, "snapper-timeline.timer", "snapper-cleanup.timer")
		return nil
	}
	return b.addJob("backup", "Back up the system with "+string(bk.Tool), "/usr/local/lib/linux-builder/backup.sh", bk.Schedule)
}

// addJob schedules a command.
func (b *modelBuilder) addJob(name, desc, command string, schedule spec.Schedule) error {
	j, err := newJob(name, desc, command, schedule)
	if err != nil {
		return err
	}
	b.m.Jobs = append(b.m.Jobs, j)
	return nil
}

// buildSchedule runs the jobs: a timer each on systemd, cron elsewhere.
func buildSchedule(b *modelBuilder) error {
	s, m := b.s, b.m
	if s.Init == spec.InitSystemd {
		for _, j := range m.Jobs {
			m.SystemdTimers = append(m.SystemdTimers, "linux-builder-"+j.Name+".timer")
		}
		return nil
	}
	if len(m.Jobs) == 0 {
		return nil
	}
	b.feat.addRaw(b.d.cronPkg...)
	b.enable(b.d.cronService)
	m.CronFile = "/etc/cron.d/linux-builder"
	if s.Base == spec.BaseAlpine {
		m.CronFile = "crontabs"
	}
	return nil
}

// buildTuning sets the CPU governor, I/O scheduler and zram, and enables
// the boot task when the firewall or the tuning needs one.
func buildTuning(b *modelBuilder) error {
	m := b.m
	tune := b.s.PostInstall.SystemTuning
	m.CPUGovernor, m.IOScheduler, m.Zram = string(tune.CPUGovernor), string(tune.IOScheduler), tune.Zram
	if m.CPUGovernor != "" || m.Zram {
		m.BootTasks = true
	}
	if m.BootTasks {
		b.enable("linux-builder-boot")
	}
	return nil
}

// buildDNS encrypts DNS: dnscrypt-proxy (DNS over HTTPS), or where it is
// not packaged and the init is systemd, systemd-resolved's DNS over TLS
// (encrypted too, though not over HTTPS).
func buildDNS(b *modelBuilder) error {
	s, m := b.s, b.m
	if !s.Defaults.DNSOverHTTPS {
		return nil
	}
	const path = "defaults.dnsOverHttps"
	if pkgs, _ := b.r.packages.resolve("dnscrypt-proxy", s.Base); len(pkgs) == 0 && s.Init == spec.InitSystemd {
		b.warn(path, "dnscrypt-proxy is not packaged for %s %s; DNS is encrypted with systemd-resolved's DNS over TLS instead", s.Base, s.Release)
		if s.Base == spec.BaseDebian || s.Base == spec.BaseUbuntu {
			b.feat.addRaw("systemd-resolved")
		}
		m.DoT = true
		b.enable("systemd-resolved")
	} else if b.feature(path, "dnscrypt-proxy") {
		m.DoH = true
		b.enable("dnscrypt-proxy")
	}
	return nil
}

// buildMACRandomization randomises MAC addresses with NetworkManager.
func buildMACRandomization(b *modelBuilder) error {
	if b.s.Defaults.MACRandomization && b.feature("defaults.macRandomization", "networkmanager") {
		b.m.MACRandom = true
		b.enable("NetworkManager")
	}
	return nil
}

// buildDisplay installs the display server and the desktop's components.
func buildDisplay(b *modelBuilder) error {
	disp := b.s.Display
	switch disp.Server {
	case spec.DisplayXorg:
		b.feature("display.server", "xorg")
	case spec.DisplayWayland:
		b.feature("display.server", "wayland")
	}
	for _, c := range []struct{ path, value string }{
		{"display.compositor", string(disp.Compositor)}, {"display.bar", string(disp.Bar)}, {"display.launcher", string(disp.Launcher)},
		{"display.terminal", string(disp.Terminal)}, {"display.notifications", string(disp.Notifications)}, {"display.lockscreen", string(disp.Lockscreen)},
	} {
		if c.value != "" && c.value != "none" {
			b.feature(c.path, c.value)
		}
	}
	buildTheme(b)
	return nil
}

// buildTheme makes display.theme the GTK theme: GTK 2, 3 and 4 read it
// from the skeleton's settings files (so every user created from
// /etc/skel gets it); GNOME, and GTK on Wayland, read GSettings instead,
// whose default a schema override sets; Cinnamon and MATE have schemas of
// their own, and Xfce its xsettings channel. spec/rules_system.go says
// where it does not reach (the Qt styles of KDE Plasma and LXQt, COSMIC).
func buildTheme(b *modelBuilder) {
	disp := b.s.Display
	if disp.Theme == "" || disp.Server == spec.DisplayNone {
		return
	}
	t := &themeModel{Name: string(disp.Theme), Dark: strings.HasSuffix(strings.ToLower(string(disp.Theme)), "-dark")}
	t.GSettings = []string{"org.gnome.desktop.interface"}
	switch disp.Compositor {
	case "cinnamon":
		t.GSettings = append(t.GSettings, "org.cinnamon.desktop.interface")
	case "mate":
		t.GSettings = append(t.GSettings, "org.mate.interface")
	case "xfce":
		t.Xfce = true
	}
	b.m.Theme = t
}

// buildShell installs the login shell (bash when it cannot be), its
// framework when the framework belongs to that shell, the Starship prompt
// (from its install script where the distribution does not package it)
// and the dotfiles.
func buildShell(b *modelBuilder) error {
	m := b.m
	cu := b.s.Customization
	m.Shell = string(cu.Shell)
	if cu.Shell != spec.ShellBash && !b.feature("customization.shell", string(cu.Shell)) {
		m.Shell = string(spec.ShellBash)
	}
	if fw, ok := frameworks[cu.ShellFramework]; ok && frameworkShell(cu.ShellFramework) == m.Shell {
		fw.Name = string(cu.ShellFramework)
		m.Framework = &fw
	}
	switch {
	case !cu.Starship:
	case !b.d.starshipPkg:
		m.Starship, m.StarshipScript = true, true
	case b.feature("customization.starship", "starship"):
		m.Starship = true
	}
	m.Dotfiles = cu.Dotfiles
	return nil
}
