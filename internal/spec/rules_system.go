package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Which display servers each compositor, window manager or desktop runs on.
var (
	waylandOnly = []Compositor{"hyprland", "sway", "river", "wayfire", "labwc", "niri", "cosmic"}
	x11Only     = []Compositor{"i3", "bspwm", "openbox", "awesome", "dwm", "xmonad", "herbstluftwm", "fluxbox", "icewm", "mate"}
)

func ruleDisplayCompositor(c *ruleCtx) {
	d := c.s.Display
	switch {
	case d.Compositor == "" && d.Server != DisplayNone:
		c.warnf("display.server", "set display.compositor", "display server %s without a compositor or desktop: the system boots to a console", d.Server)
	case d.Compositor == "":
	case d.Server == DisplayNone:
		c.errorf("display.compositor", "set display.server to wayland or xorg", "%s needs a display server, but display.server is none", d.Compositor)
	case d.Server == DisplayXorg && slices.Contains(waylandOnly, d.Compositor):
		c.errorf("display.compositor", "set display.server: wayland", "%s is a Wayland compositor and cannot run on Xorg", d.Compositor)
	case d.Server == DisplayWayland && slices.Contains(x11Only, d.Compositor):
		hint := "set display.server: xorg"
		if alt := waylandAlternative[d.Compositor]; alt != "" {
			hint += ", or use " + alt + " on Wayland"
		}
		c.errorf("display.compositor", hint, "%s is an X11 window manager and cannot run as a Wayland compositor", d.Compositor)
	}
}

var waylandAlternative = map[Compositor]string{"i3": "sway", "bspwm": "river", "openbox": "labwc", "awesome": "river", "dwm": "river"}

// component is a display component and the servers it supports. Components
// that are ordinary X11 applications still run on Wayland through XWayland
// (a warning); shell components (bars, lockers, notification daemons) must
// speak the server's own protocol (an error).
type component struct {
	path, value string
	shell       bool
}

var componentServers = map[string][2]bool{ // value → {wayland, x11}
	"waybar": {true, false}, "yambar": {true, false}, "eww": {true, true}, "polybar": {false, true},
	"lemonbar": {false, true}, "tint2": {false, true}, "i3status": {true, true}, "i3blocks": {true, true},
	"rofi": {false, true}, "wofi": {true, false}, "fuzzel": {true, false}, "tofi": {true, false},
	"bemenu": {true, true}, "dmenu": {false, true}, "ulauncher": {true, true}, "albert": {true, true},
	"foot": {true, false}, "alacritty": {true, true}, "kitty": {true, true}, "wezterm": {true, true},
	"ghostty": {true, true}, "xterm": {false, true}, "urxvt": {false, true}, "st": {false, true},
	"gnome-terminal": {true, true}, "konsole": {true, true}, "xfce4-terminal": {true, true}, "terminator": {true, true},
	"dunst": {true, true}, "mako": {true, false}, "swaync": {true, false}, "fnott": {true, false},
	"swaylock": {true, false}, "hyprlock": {true, false}, "gtklock": {true, false}, "i3lock": {false, true},
	"xsecurelock": {false, true}, "slock": {false, true}, "light-locker": {false, true},
}

func ruleDisplayComponents(c *ruleCtx) {
	d := c.s.Display
	comps := []component{
		{path: "display.bar", value: string(d.Bar), shell: true},
		{path: "display.launcher", value: string(d.Launcher)},
		{path: "display.terminal", value: string(d.Terminal)},
		{path: "display.notifications", value: string(d.Notifications), shell: true},
		{path: "display.lockscreen", value: string(d.Lockscreen), shell: true},
	}
	for _, comp := range comps {
		if comp.value == "" || comp.value == "none" {
			continue
		}
		if d.Server == DisplayNone {
			c.errorf(comp.path, "set display.server", "%s needs a display server, but display.server is none", comp.value)
			continue
		}
		servers := componentServers[comp.value]
		switch {
		case d.Server == DisplayXorg && !servers[1]:
			c.errorf(comp.path, "", "%s is Wayland-only and cannot run on Xorg", comp.value)
		case d.Server == DisplayWayland && !servers[0] && comp.shell:
			c.errorf(comp.path, "", "%s is X11-only and cannot work as a Wayland %s", comp.value, strings.TrimPrefix(comp.path, "display."))
		case d.Server == DisplayWayland && !servers[0]:
			c.warnf(comp.path, "", "%s is an X11 program; on Wayland it runs through XWayland", comp.value)
		}
	}
}

// BundledThemes are the GTK themes that come with GTK itself; any other
// theme needs its package.
var BundledThemes = []Word{"Adwaita", "Adwaita-dark", "HighContrast", "HighContrastInverse"}

// ruleDisplayTheme says where display.theme does not reach. The renderer
// writes it as the GTK theme (settings.ini, .gtkrc-2.0, GSettings and
// Xfce's xsettings); Qt desktops keep their own style.
func ruleDisplayTheme(c *ruleCtx) {
	d := c.s.Display
	switch {
	case d.Theme == "":
	case d.Server == DisplayNone:
		c.warnf("display.theme", "", "a theme has no effect without a display server")
	case d.Compositor == "kde" || d.Compositor == "lxqt":
		c.warnf("display.theme", "", "display.theme sets the GTK theme, for GTK applications only: %s keeps its own Qt style, which Linux Builder does not set", map[Compositor]string{"kde": "KDE Plasma", "lxqt": "LXQt"}[d.Compositor])
	case d.Compositor == "cosmic":
		c.warnf("display.theme", "", "display.theme sets the GTK theme, for GTK applications only: COSMIC draws its own theme, which Linux Builder does not set")
	case !slices.Contains(BundledThemes, d.Theme):
		c.warnf("display.theme", "add the theme's package to packages", "theme %s is not part of GTK (%s come with it); without its package, applications fall back to Adwaita", d.Theme, joinAny(BundledThemes))
	}
}

func ruleFirewall(c *ruleCtx) {
	fw := c.s.SecurityFeatures.Firewall
	if fw.Enabled == nil {
		return
	}
	if !*fw.Enabled {
		if len(fw.AllowedPorts) > 0 || c.set("securityFeatures.firewall.backend") || c.set("securityFeatures.firewall.defaultPolicy") {
			c.warnf("securityFeatures.firewall.enabled", "", "the firewall is disabled, so its other settings have no effect")
		}
		return
	}
	if fw.DefaultPolicy == PolicyAccept && len(fw.AllowedPorts) > 0 {
		c.warnf("securityFeatures.firewall.allowedPorts", "", "with defaultPolicy accept every port is open, so allowedPorts changes nothing")
	}
	seen := map[string]int{}
	for i, p := range fw.AllowedPorts {
		if j, dup := seen[p.String()]; dup {
			c.warnf(indexPath("securityFeatures.firewall.allowedPorts", i), "", "port %s is listed twice (first as item %d)", p, j+1)
		}
		seen[p.String()] = i
	}
}

func ruleSSH(c *ruleCtx) {
	ssh := c.s.SecurityFeatures.SSH
	if !ssh.Enable {
		for _, f := range []string{"port", "passwordAuth", "rootLogin", "fail2ban"} {
			if c.set("securityFeatures.ssh." + f) {
				c.warnf("securityFeatures.ssh."+f, "set securityFeatures.ssh.enable: true", "the SSH server is not enabled, so %s has no effect", f)
			}
		}
		return
	}
	if ssh.RootLogin == RootLoginYes && ssh.PasswordAuth {
		c.warnf("securityFeatures.ssh.rootLogin", "use rootLogin: prohibit-password", "root may log in over SSH with a password: the first target of every brute-force scan")
	}
	if ssh.PasswordAuth && !ssh.Fail2ban {
		c.warnf("securityFeatures.ssh.passwordAuth", "set fail2ban: true", "password logins are enabled without fail2ban")
	}
}

func ruleUpdates(c *ruleCtx) {
	if !c.s.SecurityFeatures.Updates.Automatic {
		return
	}
	switch c.s.Base {
	case BaseArch:
		c.warnf("securityFeatures.updates.automatic", "", "unattended upgrades on Arch Linux can stop at a manual intervention and leave a partial upgrade")
	case BaseGentoo:
		c.warnf("securityFeatures.updates.automatic", "", "automatic updates on Gentoo recompile packages in the background and can fail on blocked packages")
	}
}

func ruleKernelHardening(c *ruleCtx) {
	if c.s.SecurityFeatures.KernelHardening == KernelHardening(HardeningStrict) && c.s.Display.Server != DisplayNone {
		c.warnf("securityFeatures.kernelHardening", "use basic on a desktop",
			"strict hardening disables unprivileged user namespaces, which browser sandboxes, Flatpak and rootless containers need")
	}
}

// conflicting pairs of services that cannot be installed together.
var serviceConflicts = [][2]Database{{"mysql", "mariadb"}, {"redis", "valkey"}}

func ruleServices(c *ruleCtx) {
	dbs := c.s.Services.Databases
	for _, pair := range serviceConflicts {
		if slices.Contains(dbs, pair[0]) && slices.Contains(dbs, pair[1]) {
			c.errorf(indexPath("services.databases", slices.Index(dbs, pair[1])), "choose one",
				"%s and %s conflict: they replace each other's packages and listen on the same port", pair[0], pair[1])
		}
	}
	if slices.Contains(dbs, "mongodb") {
		c.warnf(indexPath("services.databases", slices.Index(dbs, "mongodb")), "",
			"MongoDB is not in %s's repositories (SSPL licence); it is installed from MongoDB's own repository", distroName[c.s.Base])
	}
}

// Backup tools that keep snapshots on the same disk, and tools that copy to
// a destination.
var localSnapshotTools = []BackupTool{"snapper", "btrbk", "timeshift"}
var remoteTools = []BackupTool{"restic", "borg", "rsync", "kopia"}

// ruleSchedule checks the scheduled-rebuild expression, and warns where
// it has no effect: only dpkg archives are watched.
func ruleSchedule(c *ruleCtx) {
	if c.s.Schedule == "" {
		return
	}
	_, cron, err := c.s.Schedule.Times()
	if err != nil {
		c.errorf("schedule", "use hourly, daily, weekly, monthly, yearly or a cron expression such as \"0 4 * * 1\"", "%v", err)
		return
	}
	// One minute of the hour at most: a rebuild is a full build of the
	// image, and the checker rebuilds a repository at most hourly anyway.
	if _, err := strconv.Atoi(strings.Fields(cron)[0]); err != nil {
		c.errorf("schedule", "use hourly, daily or a cron expression naming one minute, such as \"0 * * * *\"",
			"schedule %q runs more often than hourly; scheduled rebuilds run at most hourly", string(c.s.Schedule))
		return
	}
	if c.s.Base != BaseDebian && c.s.Base != BaseUbuntu {
		c.warnf("schedule", "remove schedule, or use base: debian or ubuntu", "scheduled rebuilds watch Debian and Ubuntu archives only: schedule has no effect on %s", distroName[c.s.Base])
	}
}

func ruleBackup(c *ruleCtx) {
	b := c.s.Backup
	if b.Tool == "none" {
		if len(b.Destinations) > 0 || b.Schedule != "" || b.Retention != (Retention{}) {
			c.warnf("backup", "set backup.tool", "backup settings without a tool have no effect")
		}
		return
	}
	if _, _, err := b.Schedule.Times(); err != nil {
		c.errorf("backup.schedule", "use hourly, daily, weekly, monthly, yearly or a cron expression such as \"30 2 * * *\"", "%v", err)
	}
	if (b.Tool == "snapper" || b.Tool == "btrbk") && c.s.Filesystem.Root != FSBtrfs {
		c.errorf("backup.tool", "use root: btrfs, or restic/borg", "%s works only with a btrfs root, and filesystem.root is %s", b.Tool, c.s.Filesystem.Root)
	}
	if slices.Contains(remoteTools, b.Tool) && len(b.Destinations) == 0 {
		c.errorf("backup.destinations", "add a destination such as /mnt/backup or sftp:user@host:/srv/backup", "%s needs at least one destination", b.Tool)
	}
	if slices.Contains(localSnapshotTools, b.Tool) && len(b.Destinations) > 0 && b.Tool != "btrbk" {
		c.warnf("backup.destinations", "", "%s keeps snapshots on the same disk; destinations are ignored", b.Tool)
	}
}

var frameworkShell = map[ShellFramework]Shell{
	"oh-my-zsh": ShellZsh, "prezto": ShellZsh, "zinit": ShellZsh, "antidote": ShellZsh,
	"oh-my-bash": ShellBash, "bash-it": ShellBash, "oh-my-fish": ShellFish, "fisher": ShellFish,
}

func ruleShell(c *ruleCtx) {
	cu := c.s.Customization
	if want, ok := frameworkShell[cu.ShellFramework]; ok && want != cu.Shell {
		c.errorf("customization.shellFramework", fmt.Sprintf("set customization.shell: %s", want), "%s is a %s framework, but the shell is %s", cu.ShellFramework, want, cu.Shell)
	}
	if cu.ShellTheme != "" && cu.ShellFramework == "none" {
		c.warnf("customization.shellTheme", "set customization.shellFramework", "shellTheme needs a shell framework to apply it")
	}
	if cu.ShellTheme != "" && cu.Starship {
		c.warnf("customization.starship", "", "starship draws the prompt, so shellTheme %s is not shown", cu.ShellTheme)
	}
}

func ruleBootloader(c *ruleCtx) {
	if c.s.Customization.Bootloader == BootSystemdBoot && c.s.Base == BaseVoid {
		c.warnf("customization.bootloader", "use grub", "Void Linux packages systemd-boot without its usual hooks; kernel updates need manual boot entries")
	}
}

func rulePostInstall(c *ruleCtx) {
	names := map[ScriptName]int{}
	for i, s := range c.s.PostInstall.Scripts {
		if j, dup := names[s.Name]; dup {
			c.errorf(indexPath("postInstall.scripts", i), "give each script its own name", "script name %s is used twice (first by script %d)", s.Name, j+1)
		}
		names[s.Name] = i
	}
	units := map[Unit]bool{}
	for i, u := range c.s.PostInstall.Services {
		if units[u] {
			c.warnf(indexPath("postInstall.services", i), "", "service %s is listed twice", u)
		}
		units[u] = true
	}
}

func joinAny[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
