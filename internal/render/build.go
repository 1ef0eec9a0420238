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

// A builder makes the rendering decisions of one spec feature: it reads the
// spec and fills in the model. The builders mirror the spec's rules
// (spec/rules*.go), which check the same features, and are grouped in files
// by the spec's sections: build_base.go (the distribution and its kernel:
// parameters, modules, MAC, hardening sysctls), build_security.go (SSH,
// firewall, fail2ban, automatic updates), build_system.go (scheduled jobs,
// backups, tuning, network, display, shell), build_packages.go (services,
// packages, postInstall) and users.go (users).
type builder struct {
	name  string
	build func(b *modelBuilder) error
}

// builders is every builder, in the order they run. The order is part of
// the output: it is the order of the enabled services, of the packages
// features add and of the kernel parameters, and later builders read what
// earlier ones decided (fail2ban reads the firewall's backend, users the
// shell, the boot task the firewall and the tuning).
var builders = []builder{
	{"ssh", buildSSH},
	{"firewall", buildFirewall},
	{"fail2ban", buildFail2ban},
	{"mac", buildMAC},
	{"kernel-hardening", buildSysctl},
	{"kernel", buildKernel},
	{"bootloader", buildBootloader},
	{"updates", buildUpdates},
	{"trim", buildTrim},
	{"backup", buildBackup},
	{"schedule", buildSchedule},
	{"tuning", buildTuning},
	{"dns", buildDNS},
	{"mac-randomization", buildMACRandomization},
	{"display", buildDisplay},
	{"shell", buildShell},
	{"users", func(b *modelBuilder) error { return buildUsers(b.m, b.s, b.opts, b.feature) }},
	{"services", buildServices},
	{"installer", buildInstaller},
	{"packages", buildPackages},
	{"post-install", buildPostInstall},
}

// modelBuilder is the state the builders share while they make one model.
type modelBuilder struct {
	r    *Renderer
	doc  *spec.Document
	s    *spec.Spec
	d    *distro
	opts Options
	m    *model
	// excluded are the packages the spec turns off (packages: {name: false}).
	excluded map[string]bool
	// sys holds the distribution's own packages (base, kernel, live
	// system, init), feat those the spec's features need; they share
	// their seen set, so nothing is installed twice.
	sys, feat *packageSet
	warns     spec.Diagnostics
}

// buildModel makes every rendering decision for doc's spec on its base.
func (r *Renderer) buildModel(doc *spec.Document, opts Options) (*model, spec.Diagnostics, error) {
	b, err := r.newModelBuilder(doc, opts)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range builders {
		if err := x.build(b); err != nil {
			return nil, nil, err
		}
	}
	return b.m, b.warns, nil
}

// warn adds a rendering warning at path.
func (b *modelBuilder) warn(path, format string, args ...any) {
	b.warns = append(b.warns, spec.Diagnostic{
		File: b.doc.File, Pos: b.doc.Pos(path), Severity: spec.SeverityWarning, Code: spec.CodeRule,
		Path: path, Message: fmt.Sprintf(format, args...),
	})
}

// feature adds the package a spec feature needs and reports whether the
// feature can be configured: a package the distribution lacks, or one the
// spec excludes (packages: {name: false}), leaves the feature out with a
// warning at its path rather than a broken build.
func (b *modelBuilder) feature(path, name string) bool {
	if b.excluded[name] {
		b.warn(path, "%s is excluded by packages, so this feature is not configured", name)
		return false
	}
	if ok, _ := b.feat.add(name); !ok {
		b.warn(path, "%s is not packaged for %s; this feature is left out", name, b.s.Base)
		return false
	}
	return true
}

// enable starts services at boot, in the order first asked for.
func (b *modelBuilder) enable(names ...string) {
	for _, n := range names {
		if !slices.Contains(b.m.Services, n) {
			b.m.Services = append(b.m.Services, n)
		}
	}
}
