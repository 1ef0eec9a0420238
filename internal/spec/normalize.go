package spec

import "fmt"

// DefaultRelease is the release built when a spec names none: each
// distribution's current stable release (rolling distributions: "rolling").
var DefaultRelease = map[Base]Release{
	BaseArch:     "rolling",
	BaseDebian:   "bookworm",
	BaseUbuntu:   "24.04",
	BaseAlpine:   "3.20",
	BaseFedora:   "40",
	BaseOpenSUSE: "tumbleweed",
	BaseVoid:     "rolling",
	BaseGentoo:   "rolling",
}

// KnownReleases lists the releases each distribution is tested with. Other
// releases are accepted with a warning, since new releases appear faster
// than this list changes.
var KnownReleases = map[Base][]Release{
	BaseArch:     {"rolling"},
	BaseDebian:   {"bullseye", "bookworm", "trixie", "sid", "11", "12", "13"},
	BaseUbuntu:   {"20.04", "22.04", "24.04", "24.10", "25.04", "focal", "jammy", "noble", "oracular", "plucky"},
	BaseAlpine:   {"3.18", "3.19", "3.20", "3.21", "edge"},
	BaseFedora:   {"39", "40", "41", "42", "rawhide"},
	BaseOpenSUSE: {"tumbleweed", "leap-15.5", "leap-15.6"},
	BaseVoid:     {"rolling"},
	BaseGentoo:   {"rolling"},
}

// DefaultInit is each distribution's own init system.
var DefaultInit = map[Base]InitSystem{
	BaseArch:     InitSystemd,
	BaseDebian:   InitSystemd,
	BaseUbuntu:   InitSystemd,
	BaseAlpine:   InitOpenRC,
	BaseFedora:   InitSystemd,
	BaseOpenSUSE: InitSystemd,
	BaseVoid:     InitRunit,
	BaseGentoo:   InitOpenRC,
}

// Normalize fills in defaults, so that later stages never have to guess.
// It is idempotent. Packages are already in normal form after decoding.
func Normalize(s *Spec) {
	setDefault(&s.Release, DefaultRelease[s.Base])
	setDefault(&s.Architecture, ArchX8664)
	setDefault(&s.Init, DefaultInit[s.Base])
	setDefault(&s.Kernel.Version, "lts")
	if len(s.Outputs) == 0 {
		s.Outputs = []Output{OutputISO}
	}

	fs := &s.Filesystem
	setDefault(&fs.Root, FSExt4)
	setDefault(&fs.Encryption, EncNone)
	setDefault(&fs.Compression, "none")
	setDefault(&fs.RAID, "none")
	for i := range fs.Partitions {
		p := &fs.Partitions[i]
		switch {
		case p.FS != "":
		case p.Mount == "swap":
			p.FS = "swap"
		case p.Mount == "/boot/efi" || p.Mount == "/efi":
			p.FS = "vfat"
		default:
			p.FS = PartitionFS(fs.Root)
		}
	}

	setDefault(&s.Display.Server, DisplayNone)

	sec := &s.SecurityFeatures
	if sec.Firewall.Enabled != nil {
		setDefault(&sec.Firewall.Backend, FirewallNftables)
		setDefault(&sec.Firewall.DefaultPolicy, PolicyDrop)
	}
	if sec.SSH.Port == 0 {
		sec.SSH.Port = 22
	}
	setDefault(&sec.SSH.RootLogin, RootLoginNo)
	setDefault(&sec.KernelHardening, KernelHardening(HardeningNone))

	if s.Backup.Tool != "" && s.Backup.Tool != "none" {
		setDefault(&s.Backup.Schedule, "daily")
	}
	setDefault(&s.Backup.Tool, "none")

	c := &s.Customization
	setDefault(&c.Shell, ShellBash)
	setDefault(&c.ShellFramework, "none")
	setDefault(&c.Bootloader, BootGRUB)
	setDefault(&c.Firmware, FirmwareBoth)

	for i := range s.PostInstall.Scripts {
		sc := &s.PostInstall.Scripts[i]
		if sc.Name == "" {
			sc.Name = ScriptName(fmt.Sprintf("%02d-post-install.sh", i+1))
		}
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Rebase moves a decoded document to another distribution, as if its base
// had been written so: the release goes back to the new distribution's
// default (releases are per distribution), the init system too unless the
// spec chose one, and the rules run again for the new combination. It
// returns the new diagnostics; the document is unusable when they have
// errors.
func Rebase(doc *Document, base Base) (Diagnostics, error) {
	if doc.Spec == nil {
		return nil, fmt.Errorf("rebase: the spec did not decode")
	}
	if _, ok := DefaultInit[base]; !ok {
		return nil, fmt.Errorf("rebase: unknown distribution %q; expected one of %s", base, joinAny(Bases))
	}
	s := doc.Spec
	s.Base = base
	s.Release = DefaultRelease[base]
	if _, written := doc.positions["init"]; !written {
		s.Init = DefaultInit[base]
	}
	Normalize(s)
	diags := checkRules(doc)
	diags.Sort()
	return diags, nil
}
