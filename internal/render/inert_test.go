package render

import (
	"bytes"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// fieldSample sets one field of the spec. with is a whole spec that sets
// the field; without is the same spec without it (default: base: debian
// alone). A field must change the build context (the resolved spec.json
// aside, which every field changes) or the diagnostics.
type fieldSample struct{ with, without string }

const bareSpec = "base: debian\n"

// fieldSamples has one entry per field of the spec (see specLeaves). A field
// added to the spec without a sample fails TestEveryFieldHasAnEffect.
var fieldSamples = map[string]fieldSample{
	"name":                                    {with: "base: debian\nname: web box\n"},
	"base":                                    {with: "base: ubuntu\n"},
	"release":                                 {with: "base: debian\nrelease: trixie\n"},
	"architecture":                            {with: "base: debian\narchitecture: aarch64\n"},
	"outputs":                                 {with: "base: debian\noutputs: [iso, qcow2]\n"},
	"kernel.version":                          {with: "base: debian\nkernel: {version: latest}\n"},
	"kernel.customFlags":                      {with: "base: debian\nkernel: {customFlags: [CONFIG_ZRAM=m]}\n"},
	"kernel.modules":                          {with: "base: debian\nkernel: {modules: [kvm_amd]}\n"},
	"init":                                    {with: "base: debian\ninit: openrc\n"},
	"filesystem.root":                         {with: "base: debian\nfilesystem: {root: xfs}\n"},
	"filesystem.diskSize":                     {with: "base: debian\nfilesystem: {diskSize: 40G}\n"},
	"filesystem.encryption":                   {with: "base: debian\nfilesystem: {encryption: luks1}\n"},
	"filesystem.compression":                  {with: "base: debian\nfilesystem: {root: btrfs, compression: zstd}\n", without: "base: debian\nfilesystem: {root: btrfs}\n"},
	"filesystem.snapshots":                    {with: "base: debian\nfilesystem: {root: btrfs, snapshots: true}\n", without: "base: debian\nfilesystem: {root: btrfs}\n"},
	"filesystem.partitions[].mount":           {with: "base: debian\nfilesystem: {partitions: [{mount: /srv, size: 10G}]}\n"},
	"filesystem.partitions[].size":            {with: "base: debian\nfilesystem: {partitions: [{mount: /srv, size: 10G}]}\n"},
	"filesystem.partitions[].fs":              {with: "base: debian\nfilesystem: {partitions: [{mount: /srv, size: 10G, fs: xfs}]}\n"},
	"filesystem.lvm":                          {with: "base: debian\nfilesystem: {lvm: true}\n"},
	"filesystem.raid":                         {with: "base: debian\nfilesystem: {raid: raid1}\n"},
	"display.server":                          {with: "base: debian\ndisplay: {server: wayland}\n"},
	"display.compositor":                      {with: "base: debian\ndisplay: {server: wayland, compositor: sway}\n", without: "base: debian\ndisplay: {server: wayland}\n"},
	"display.bar":                             {with: "base: debian\ndisplay: {server: wayland, compositor: sway, bar: waybar}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"display.launcher":                        {with: "base: debian\ndisplay: {server: wayland, compositor: sway, launcher: fuzzel}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"display.terminal":                        {with: "base: debian\ndisplay: {server: wayland, compositor: sway, terminal: foot}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"display.theme":                           {with: "base: debian\ndisplay: {server: wayland, compositor: sway, theme: Adwaita-dark}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"display.notifications":                   {with: "base: debian\ndisplay: {server: wayland, compositor: sway, notifications: mako}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"display.lockscreen":                      {with: "base: debian\ndisplay: {server: wayland, compositor: sway, lockscreen: swaylock}\n", without: "base: debian\ndisplay: {server: wayland, compositor: sway}\n"},
	"packages":                                {with: "base: debian\npackages: [htop]\n"},
	"securityFeatures.mac":                    {with: "base: debian\nsecurityFeatures: {mac: apparmor}\n"},
	"securityFeatures.firewall.enabled":       {with: "base: debian\nsecurityFeatures: {firewall: {enabled: true}}\n"},
	"securityFeatures.firewall.backend":       {with: "base: debian\nsecurityFeatures: {firewall: {backend: iptables}}\n", without: "base: debian\nsecurityFeatures: {firewall: {enabled: true}}\n"},
	"securityFeatures.firewall.defaultPolicy": {with: "base: debian\nsecurityFeatures: {firewall: {defaultPolicy: reject}}\n", without: "base: debian\nsecurityFeatures: {firewall: {enabled: true}}\n"},
	"securityFeatures.firewall.allowedPorts":  {with: "base: debian\nsecurityFeatures: {firewall: {allowedPorts: [80]}}\n", without: "base: debian\nsecurityFeatures: {firewall: {enabled: true}}\n"},
	"securityFeatures.ssh.enable":             {with: "base: debian\nsecurityFeatures: {ssh: {enable: true}}\n"},
	"securityFeatures.ssh.port":               {with: "base: debian\nsecurityFeatures: {ssh: {enable: true, port: 2222}}\n", without: "base: debian\nsecurityFeatures: {ssh: {enable: true}}\n"},
	"securityFeatures.ssh.passwordAuth":       {with: "base: debian\nsecurityFeatures: {ssh: {enable: true, passwordAuth: true}}\n", without: "base: debian\nsecurityFeatures: {ssh: {enable: true}}\n"},
	"securityFeatures.ssh.rootLogin":          {with: "base: debian\nsecurityFeatures: {ssh: {enable: true, rootLogin: prohibit-password}}\n", without: "base: debian\nsecurityFeatures: {ssh: {enable: true}}\n"},
	"securityFeatures.ssh.fail2ban":           {with: "base: debian\nsecurityFeatures: {ssh: {enable: true, fail2ban: true}}\n", without: "base: debian\nsecurityFeatures: {ssh: {enable: true}}\n"},
	"securityFeatures.updates.automatic":      {with: "base: debian\nsecurityFeatures: {updates: {automatic: true}}\n"},
	"securityFeatures.kernelHardening":        {with: "base: debian\nsecurityFeatures: {kernelHardening: basic}\n"},
	"services.databases":                      {with: "base: debian\nservices: {databases: [redis]}\n"},
	"services.monitoring":                     {with: "base: debian\nservices: {monitoring: [node-exporter]}\n"},
	"services.ai":                             {with: "base: debian\nservices: {ai: [ollama]}\n"},
	"backup.tool":                             {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n", without: "base: debian\nbackup: {destinations: [/mnt/backup]}\n"},
	"backup.schedule":                         {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], schedule: weekly}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.last":                   {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {last: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.hourly":                 {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {hourly: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.daily":                  {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {daily: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.weekly":                 {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {weekly: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.monthly":                {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {monthly: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.retention.yearly":                 {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup], retention: {yearly: 3}}\n", without: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n"},
	"backup.destinations":                     {with: "base: debian\nbackup: {tool: restic, destinations: [/mnt/backup]}\n", without: "base: debian\nbackup: {tool: restic}\n"},
	"customization.shell":                     {with: "base: debian\ncustomization: {shell: zsh}\n"},
	"customization.shellFramework":            {with: "base: debian\ncustomization: {shellFramework: oh-my-bash}\n"},
	"customization.shellTheme":                {with: "base: debian\ncustomization: {shellFramework: oh-my-bash, shellTheme: powerline}\n", without: "base: debian\ncustomization: {shellFramework: oh-my-bash}\n"},
	"customization.starship":                  {with: "base: debian\ncustomization: {starship: true}\n"},
	"customization.bootloader":                {with: "base: debian\ncustomization: {bootloader: systemd-boot}\n"},
	"customization.firmware":                  {with: "base: debian\ncustomization: {firmware: uefi}\n"},
	"customization.dotfiles.repo":             {with: "base: debian\ncustomization: {dotfiles: {repo: https://github.com/example/dotfiles}}\n"},
	"customization.dotfiles.ref":              {with: "base: debian\ncustomization: {dotfiles: {repo: https://github.com/example/dotfiles, ref: v1}}\n", without: "base: debian\ncustomization: {dotfiles: {repo: https://github.com/example/dotfiles}}\n"},
	"customization.dotfiles.files":            {with: "base: debian\ncustomization: {dotfiles: {files: {.vimrc: \"set nu\\n\"}}}\n"},
	"users[].name":                            {with: "base: debian\nusers: [{name: ops}]\n"},
	"users[].groups":                          {with: "base: debian\nusers: [{name: ops, groups: [docker]}]\n", without: "base: debian\nusers: [{name: ops}]\n"},
	"users[].sudo":                            {with: "base: debian\nusers: [{name: ops, sudo: true}]\n", without: "base: debian\nusers: [{name: ops}]\n"},
	"users[].shell":                           {with: "base: debian\nusers: [{name: ops, shell: zsh}]\n", without: "base: debian\nusers: [{name: ops}]\n"},
	"users[].sshAuthorizedKeys":               {with: "base: debian\nusers: [{name: ops, sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPSnvmxC64iuNJC5d6CSW+r+BXpBLNmWoVwhMY1WANhT ops@example.com\"]}]\n", without: "base: debian\nusers: [{name: ops}]\n"},
	"users[].passwordHash":                    {with: "base: debian\nusers: [{name: ops, passwordHash: \"$6$saltsalt$MiBZ2jFzHAX0.tD3lLmBQ4yWFa4v/n4jGZ.bqqcaEc5F4rP6uO0cSjqK9z0PZr5ySLDS6Nd6rH9U4A2vNCVHi/\"}]\n", without: "base: debian\nusers: [{name: ops}]\n"},
	"postInstall.scripts[].name":              {with: "base: debian\npostInstall: {scripts: [{name: a.sh, run: \"echo hi\\n\"}]}\n", without: "base: debian\npostInstall: {scripts: [{run: \"echo hi\\n\"}]}\n"},
	"postInstall.scripts[].run":               {with: "base: debian\npostInstall: {scripts: [{run: \"echo hi\\n\"}]}\n"},
	"postInstall.systemTuning.cpuGovernor":    {with: "base: debian\npostInstall: {systemTuning: {cpuGovernor: performance}}\n"},
	"postInstall.systemTuning.ioScheduler":    {with: "base: debian\npostInstall: {systemTuning: {ioScheduler: bfq}}\n"},
	"postInstall.systemTuning.zram":           {with: "base: debian\npostInstall: {systemTuning: {zram: true}}\n"},
	"postInstall.systemTuning.sysctl":         {with: "base: debian\npostInstall: {systemTuning: {sysctl: {vm.dirty_ratio: \"10\"}}}\n"},
	"postInstall.services":                    {with: "base: debian\npostInstall: {services: [nginx]}\n"},
	"defaults.swappiness":                     {with: "base: debian\ndefaults: {swappiness: 10}\n"},
	"defaults.trim":                           {with: "base: debian\ndefaults: {trim: true}\n"},
	"defaults.kernelParams":                   {with: "base: debian\ndefaults: {kernelParams: [quiet]}\n"},
	"defaults.dnsOverHttps":                   {with: "base: debian\ndefaults: {dnsOverHttps: true}\n"},
	"defaults.macRandomization":               {with: "base: debian\ndefaults: {macRandomization: true}\n"},
	"defaults.documentation":                  {with: "base: debian\ndefaults: {documentation: true}\n"},
	"schedule":                                {with: "base: debian\nschedule: daily\n"},
}

// outsideBuild are the fields that act outside the build, and where.
var outsideBuild = map[string]string{
	"schedule": "the rebuild scheduler (internal/freshness) reads it; the build itself does not",
	"outputs":  "the pipeline's ISO and disk steps read it (internal/pipeline/diskstep.go); the image is the same",
}

// specLeaves walks the spec's Go type (the same json tags the JSON Schema is
// generated from) and returns the path of every field that holds a value:
// structs are walked into, lists of structs as path[], and everything else
// (scalars, lists of scalars, maps, and the types written in more than one
// shape, which have no tagged fields) is a leaf.
func specLeaves(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && hasTaggedFields(ft):
			out = append(out, specLeaves(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && hasTaggedFields(ft.Elem()):
			out = append(out, specLeaves(ft.Elem(), p+"[]")...)
		default:
			out = append(out, p)
		}
	}
	return out
}

func hasTaggedFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			return true
		}
	}
	return false
}

// effect is what a spec amounts to: its diagnostics (without positions,
// which move with the text) and its build context without the resolved
// spec and its hash, which record every field whether it does anything or
// not.
type effect struct {
	diags   []string
	context string
}

func effectOf(t *testing.T, r *Renderer, src string) effect {
	t.Helper()
	doc, diags := spec.Parse("linux-build.yaml", []byte(src))
	var e effect
	for _, d := range diags {
		e.diags = append(e.diags, string(d.Severity)+" "+d.Path+": "+d.Message)
	}
	if diags.HasErrors() {
		return e
	}
	c, err := r.Render(doc, diags, Options{})
	if err != nil {
		t.Fatalf("render %q: %v", src, err)
	}
	for _, w := range c.Warnings {
		e.diags = append(e.diags, string(w.Severity)+" "+w.Path+": "+w.Message)
	}
	var files []File
	for _, f := range c.Files {
		if f.Path != identity+etcDir+"/spec.json" {
			f.Data = bytes.ReplaceAll(f.Data, []byte(c.SpecHash), []byte("SPEC-HASH"))
			files = append(files, f)
		}
	}
	e.context = contextHash(files)
	sort.Strings(e.diags)
	return e
}

// TestEveryFieldHasAnEffect renders every field of the spec alone and
// fails when one changes neither the build context nor the diagnostics: a
// field the builder ignores must at least say so.
func TestEveryFieldHasAnEffect(t *testing.T) {
	r := newRenderer(t)
	leaves := specLeaves(reflect.TypeFor[spec.Spec](), "")
	if len(leaves) < 60 {
		t.Fatalf("only %d fields found in the spec", len(leaves))
	}
	for _, leaf := range leaves {
		if _, ok := fieldSamples[leaf]; !ok {
			t.Errorf("field %s has no sample in fieldSamples", leaf)
		}
	}
	for path := range fieldSamples {
		if !slices.Contains(leaves, path) {
			t.Errorf("fieldSamples has %s, which is not a field of the spec", path)
		}
	}
	var inert []string
	for _, leaf := range leaves {
		s, ok := fieldSamples[leaf]
		if !ok {
			continue
		}
		without := s.without
		if without == "" {
			without = bareSpec
		}
		// The sample must really set the field.
		if !strings.Contains(s.with, lastName(leaf)+":") || s.with == without {
			t.Errorf("%s: the sample does not set the field alone:\nwith:    %q\nwithout: %q", leaf, s.with, without)
			continue
		}
		a, b := effectOf(t, r, s.with), effectOf(t, r, without)
		if a.context == b.context && slices.Equal(a.diags, b.diags) && outsideBuild[leaf] == "" {
			inert = append(inert, leaf)
		}
	}
	if len(inert) > 0 {
		t.Errorf("fields that change neither the build context nor the diagnostics:\n  %s", strings.Join(inert, "\n  "))
	}
}

// lastName is a field path's last name: filesystem.partitions[].fs → fs.
func lastName(p string) string {
	p = strings.ReplaceAll(p, "[]", "")
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[i+1:]
	}
	return p
}
