package render

import (
	"slices"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// buildSSH enables the SSH server.
func buildSSH(b *modelBuilder) error {
	sec := b.s.SecurityFeatures
	if sec.SSH.Enable && b.feature("securityFeatures.ssh", "openssh") {
		ssh := sec.SSH
		b.m.SSH = &ssh
		b.enable(b.d.sshService)
	}
	return nil
}

// removeHostKeys removes the SSH host keys a package made when it was
// installed (Debian's openssh-server does) or a postInstall script made:
// they would be every machine's, and anyone's who downloads the image.
// Each layer that may make them ends with it (the package layer's RUN,
// setup.sh, the postInstall runner), since a pushed or saved image carries
// every layer, and so does the last RUN (model.Finish). Each machine makes
// its own at boot (buildHostKeys).
const removeHostKeys = "rm -f /etc/ssh/ssh_host_*"

// hostKeygenService is Linux Builder's service that makes a machine's SSH
// host keys at boot (systemd and OpenRC).
const hostKeygenService = "linux-builder-ssh-keygen"

// buildHostKeys decides how a machine makes its own SSH host keys at boot,
// before its SSH server starts (ssh-keygen -A makes the missing ones). It
// applies to every image, SSH enabled or not: the keys are removed from
// every image, and a package may enable an SSH server by itself (Debian's
// openssh-server does), which would then find none.
//
//   - systemd and OpenRC: Linux Builder's service, ordered before the SSH
//     service (and its socket), doing nothing where sshd is not installed;
//     on systemd it makes the ECDSA and Ed25519 keys, and a second one the
//     RSA key after the server started (slow under emulation: the boot
//     does not wait for it);
//   - runit and s6: supervisors start every service at once, so a separate
//     one-shot would race sshd (and Debian's runit service takes itself
//     down for good when its sshd -t check fails). The SSH service's run
//     script makes the keys itself, first: setup.sh adds ssh-keygen -A to
//     the one it wrote or the distribution's (Debian's runit one), unless
//     it makes them already (Void's);
//   - none where the distribution's own service makes them
//     (distro.makesHostKeys).
func buildHostKeys(d *distro, m *model) {
	m.SSHService = d.sshService
	init := spec.InitSystem(m.Init)
	switch {
	case d.makesHostKeys == init:
	case init == spec.InitSystemd || init == spec.InitOpenRC:
		m.HostKeygen = "service"
	case init == spec.InitRunit:
		m.HostKeygen, m.SSHRunScript = "run-script", "/etc/sv/"+d.sshService+"/run"
	case m.OwnS6:
		m.HostKeygen, m.SSHRunScript = "run-script", "/etc/s6/sv/"+d.sshService+"/run"
	case init == spec.InitS6:
		m.HostKeygen, m.SSHRunScript = "run-script", "/etc/s6-rc/source/"+d.sshService+"/run"
	}
}

// buildFirewall decides the firewall's rule set: the allowed ports merged
// per protocol, SSH's port opened, forwarding accepted for container
// engines. Every backend but ufw is loaded by the boot task.
func buildFirewall(b *modelBuilder) error {
	s, m := b.s, b.m
	cfg := s.SecurityFeatures.Firewall
	if !cfg.IsEnabled() || !b.feature("securityFeatures.firewall.backend", string(cfg.Backend)) {
		return nil
	}
	fw := &firewallModel{Backend: string(cfg.Backend), Policy: string(cfg.DefaultPolicy)}
	for _, p := range cfg.AllowedPorts {
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
		b.enable("ufw")
	} else {
		m.BootTasks = true
	}
	return nil
}

// buildFail2ban guards the SSH server with fail2ban, banning through the
// firewall's backend and reading the journal on systemd.
func buildFail2ban(b *modelBuilder) error {
	s, m := b.s, b.m
	ssh := s.SecurityFeatures.SSH
	if m.SSH == nil || !ssh.Fail2ban || !b.feature("securityFeatures.ssh.fail2ban", "fail2ban") {
		return nil
	}
	f := &fail2banModel{Port: ssh.Port, Backend: "auto", Banaction: "nftables-multiport", BanactionAll: "nftables-allports"}
	if s.Init == spec.InitSystemd {
		f.Backend = "systemd"
		if s.Base == spec.BaseDebian || s.Base == spec.BaseUbuntu {
			b.feat.addRaw("python3-systemd")
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
	b.enable("fail2ban")
	return nil
}

// buildUpdates installs automatic updates: the distribution's own tool
// where it has one and the init is systemd (their timers are systemd
// units), a daily job running the distribution's upgrade command otherwise.
func buildUpdates(b *modelBuilder) error {
	s, m, d := b.s, b.m, b.d
	if !s.SecurityFeatures.Updates.Automatic {
		return nil
	}
	self := d.selfUpdates
	if s.Init != spec.InitSystemd {
		self = "" // their timers are systemd units: use a job instead
	}
	const path = "securityFeatures.updates.automatic"
	switch self {
	case "unattended-upgrades":
		if b.feature(path, "unattended-upgrades") {
			m.SelfUpdates = d.selfUpdates
		}
	case "dnf-automatic":
		// The common name: packages.yaml maps it to dnf-automatic on Fedora.
		if b.feature(path, "unattended-upgrades") {
			m.SelfUpdates = d.selfUpdates
			m.SystemdTimers = append(m.SystemdTimers, "dnf-automatic-install.timer")
		}
	default:
		return b.addJob("update", "Upgrade all packages", d.updateCmd, "daily")
	}
	return nil
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
