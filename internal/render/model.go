package render

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// model is everything the templates see. It is computed once per render;
// templates only lay it out.
type model struct {
	Spec     *spec.Spec
	SpecHash string
	Image    string
	Title    string
	Init     string
	Base     string
	Hostname string
	Users    []userModel
	// Autologin is the user logged in automatically on the console, or ""
	// (when the spec has users).
	Autologin string
	Timezone  string
	Locale    string

	Env                       []keyValue
	Prepare, Refresh, Install string
	// Upgrade upgrades the base image's packages in the system image.
	Upgrade string
	Cleanup string
	// SystemTag names the shared system image (system/ in the context)
	// the Dockerfile starts FROM; SystemFiles are the package manager
	// settings it copies (under system/rootfs/).
	SystemTag   string
	SystemFiles []keyValue
	// SystemCleanup ends the system layer; KeepIndex says it keeps the
	// package index, which the package layer then uses without a refresh.
	SystemCleanup string
	KeepIndex     bool
	// InitramfsDefer prefixes the system image's install (an environment
	// setting that stops packages from building the initramfs) and
	// InitramfsBuild then builds it once; both empty where packages build
	// it as they install.
	InitramfsDefer, InitramfsBuild string
	// Finish is the last RUN: it removes the build-only settings, and the
	// SSH host keys packages or scripts made (RemoveHostKeys, which every
	// layer that may make them runs as well).
	Finish, RemoveHostKeys string
	// SSHService is the distribution's SSH server service. HostKeygen is
	// how a machine makes its own SSH host keys at boot, before that
	// service starts: "service" (systemd, OpenRC: Linux Builder's
	// hostKeygenService, ordered before it), "run-script" (runit, s6:
	// SSHRunScript, the service's run script, makes them first) or "" (the
	// distribution's own service makes them).
	SSHService, HostKeygen, SSHRunScript string

	SystemPackages, UserPkgs []string
	Initramfs                string
	AdminGroup, RunitDir     string
	// OwnS6 is an s6 system on a distribution without s6-linux-init and
	// s6-rc: Linux Builder's stage 1 makes s6-svscan PID 1 on a copy of
	// /etc/s6/scandir, whose services live in /etc/s6/sv.
	OwnS6                    bool
	StarshipScript           bool
	Services                 []string // enabled at boot, in order
	BootTasks                bool
	Firewall                 *firewallModel
	Fail2ban                 *fail2banModel
	SSH                      *spec.SSH
	Sysctl                   []keyValue
	KernelCmdline            []string
	Modules                  []string
	Jobs                     []job
	CronFile                 string // "" (systemd), "/etc/cron.d/linux-builder" or "crontabs" (Alpine)
	Framework                *framework
	Dotfiles                 spec.Dotfiles
	DataInit                 []string
	Scripts                  []scriptFile
	SelfUpdates              string
	CPUGovernor, IOScheduler string
	Zram                     bool
	MACRandom, DoH, DoT      bool
	Backup, Starship         bool
	Shell                    string
	AppArmor, SELinux        bool
	Foreground               []keyValue
	SystemdTimers            []string
	GrubDefaultDir           string
	// Theme is the GTK theme the desktop's users get, or nil.
	Theme *themeModel
	// Installer is linux-builder-install's configuration, or nil when the
	// live ISO carries no installer (build_install.go).
	Installer *installerModel
	// BootFacts puts the boot-facts service on a systemd system (an
	// installer's or a disk image's).
	BootFacts bool
	// InstallEnv is exported by the spec's package layer (CRYPTSETUP=y:
	// the initramfs it rebuilds carries cryptsetup), or "".
	InstallEnv string
}

// themeModel is display.theme as GTK and the desktops read it.
type themeModel struct {
	Name string
	// Dark asks GTK and GNOME for the dark variant of applications too.
	Dark bool
	// GSettings are the schemas whose gtk-theme key is set (GNOME and
	// GTK applications on Wayland, Cinnamon, MATE).
	GSettings []string
	// Xfce writes Xfce's xsettings channel.
	Xfce bool
}

type keyValue struct{ Key, Value string }

type scriptFile struct{ File, Name string }

// job is a scheduled task: a systemd timer on systemd, a cron entry elsewhere.
type job struct {
	Name, Description, Command string
	OnCalendar, Cron           string
}

type portRange struct {
	From, To int
}

// NFT formats the range for nftables (22, 8000-8100).
func (p portRange) NFT() string {
	if p.From == p.To {
		return strconv.Itoa(p.From)
	}
	return fmt.Sprintf("%d-%d", p.From, p.To)
}

// IPT formats the range for iptables and ufw (22, 8000:8100).
func (p portRange) IPT() string {
	if p.From == p.To {
		return strconv.Itoa(p.From)
	}
	return fmt.Sprintf("%d:%d", p.From, p.To)
}

type firewallModel struct {
	Backend       string
	Policy        string // drop, reject or accept
	TCP, UDP      []portRange
	ForwardAccept bool // containers route through the host
}

type fail2banModel struct {
	Banaction, BanactionAll, Backend string
	Port                             int
}

type framework struct {
	Name, Repo, Dest string
	Recursive        bool
}

// frameworkShell is the shell a framework belongs to.
func frameworkShell(f spec.ShellFramework) string {
	switch f {
	case "oh-my-zsh", "prezto", "zinit", "antidote":
		return "zsh"
	case "oh-my-bash", "bash-it":
		return "bash"
	case "oh-my-fish", "fisher":
		return "fish"
	}
	return ""
}

var frameworks = map[spec.ShellFramework]framework{
	"oh-my-zsh":  {Repo: "https://github.com/ohmyzsh/ohmyzsh.git", Dest: ".oh-my-zsh"},
	"prezto":     {Repo: "https://github.com/sorin-ionescu/prezto.git", Dest: ".zprezto", Recursive: true},
	"zinit":      {Repo: "https://github.com/zdharma-continuum/zinit.git", Dest: ".local/share/zinit/zinit.git"},
	"antidote":   {Repo: "https://github.com/mattmc3/antidote.git", Dest: ".antidote"},
	"oh-my-bash": {Repo: "https://github.com/ohmybash/oh-my-bash.git", Dest: ".oh-my-bash"},
	"bash-it":    {Repo: "https://github.com/Bash-it/bash-it.git", Dest: ".bash_it"},
	"oh-my-fish": {Repo: "https://github.com/oh-my-fish/oh-my-fish.git", Dest: ".local/share/omf"},
	"fisher":     {Repo: "https://github.com/jorgebucaran/fisher.git", Dest: ".local/share/fisher"},
}

func newJob(name, desc, command string, schedule spec.Schedule) (job, error) {
	cal, cron, err := schedule.Times()
	if err != nil {
		return job{}, fmt.Errorf("schedule of %s: %w", name, err)
	}
	return job{Name: name, Description: desc, Command: command, OnCalendar: cal, Cron: cron}, nil
}

// hardening sysctls by level; strict includes basic.
var hardeningSysctl = map[spec.HardeningLevel][]keyValue{
	spec.HardeningBasic: {
		{"fs.protected_fifos", "2"}, {"fs.protected_hardlinks", "1"}, {"fs.protected_regular", "2"}, {"fs.protected_symlinks", "1"},
		{"fs.suid_dumpable", "0"}, {"kernel.dmesg_restrict", "1"}, {"kernel.kptr_restrict", "1"}, {"kernel.yama.ptrace_scope", "1"},
		{"net.ipv4.conf.all.accept_redirects", "0"}, {"net.ipv4.conf.all.rp_filter", "1"}, {"net.ipv4.conf.all.send_redirects", "0"},
		{"net.ipv4.conf.default.accept_redirects", "0"}, {"net.ipv4.tcp_syncookies", "1"}, {"net.ipv6.conf.all.accept_redirects", "0"},
	},
	spec.HardeningStrict: {
		{"dev.tty.ldisc_autoload", "0"}, {"kernel.kexec_load_disabled", "1"}, {"kernel.kptr_restrict", "2"},
		{"kernel.perf_event_paranoid", "3"}, {"kernel.unprivileged_bpf_disabled", "1"}, {"kernel.yama.ptrace_scope", "2"},
		{"net.core.bpf_jit_harden", "2"}, {"user.max_user_namespaces", "0"}, {"vm.unprivileged_userfaultfd", "0"},
	},
}

var strictCmdline = []string{"init_on_alloc=1", "init_on_free=1", "page_alloc.shuffle=1", "pti=on", "randomize_kstack_offset=on", "slab_nomerge", "vsyscall=none"}

// packageSet collects packages in order without duplicates, honouring the
// spec's exclusions.
type packageSet struct {
	m        packageMap
	base     spec.Base
	excluded map[string]bool
	seen     map[string]bool
	list     []string
}

func (p *packageSet) addRaw(pkgs ...string) {
	for _, x := range pkgs {
		if x == "" || p.seen[x] || p.excluded[x] {
			continue
		}
		p.seen[x] = true
		p.list = append(p.list, x)
	}
}

// add resolves a common name; it reports whether the name is available on
// the distribution and whether it was in the map.
func (p *packageSet) add(name string) (available, known bool) {
	if p.excluded[name] {
		return true, true
	}
	pkgs, known := p.m.resolve(name, p.base)
	p.addRaw(pkgs...)
	return len(pkgs) > 0, known
}

func sortedKV(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func uniq(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func hostname(s *spec.Spec) string {
	h := strings.ToLower(string(s.Name))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	if out == "" {
		return "linux-builder"
	}
	return out
}
