package spec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPackageFormsNormaliseToOneForm(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		form     PackageForm
		items    []PackageRef
		excluded []Name
	}{
		{"list", "base: debian\npackages: [vim, git]", PackageFormList,
			[]PackageRef{{Name: "vim"}, {Name: "git"}}, nil},
		{"categorized", "base: debian\npackages:\n  development: [git]\n  utils: [vim, htop]", PackageFormCategorized,
			[]PackageRef{{Name: "git", Category: "development"}, {Name: "vim", Category: "utils"}, {Name: "htop", Category: "utils"}}, nil},
		{"map", "base: debian\npackages: {vim: true, nano: false, git: true}", PackageFormMap,
			[]PackageRef{{Name: "vim"}, {Name: "git"}}, []Name{"nano"}},
		{"empty mapping", "base: debian\npackages: {}", PackageFormList, nil, nil},
		{"category with null", "base: debian\npackages:\n  base: [vim]\n  utils:", PackageFormCategorized,
			[]PackageRef{{Name: "vim", Category: "base"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, diags := Parse("p.yaml", []byte(tc.yaml))
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			p := doc.Spec.Packages
			if p.Form != tc.form || !reflect.DeepEqual(p.Items, tc.items) || !reflect.DeepEqual(p.Excluded, tc.excluded) {
				t.Fatalf("got %+v, want form %s items %+v excluded %v", p, tc.form, tc.items, tc.excluded)
			}
		})
	}
}

func TestPackageFormErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		code       Code
		pos        Pos
		text       string
	}{
		{"mixed forms", "base: debian\npackages:\n  vim: true\n  base: [git]", CodeType, Pos{4, 9}, "name→bool form"},
		{"unknown category", "base: debian\npackages:\n  develop: [git]", CodeUnknownField, Pos{3, 3}, "unknown package category"},
		{"scalar", "base: debian\npackages: vim", CodeType, Pos{2, 11}, "expected a list of packages"},
		{"bad name in map form", "base: debian\npackages: {\"rm -rf\": true}", CodePattern, Pos{2, 12}, "not a package name"},
		{"number as name", "base: debian\npackages: [vim, 42]", CodeType, Pos{2, 17}, "put it in quotes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Parse("p.yaml", []byte(tc.yaml))
			errs := diags.Errors()
			if len(errs) != 1 || errs[0].Code != tc.code || errs[0].Pos != tc.pos || !strings.Contains(errs[0].Message+" "+errs[0].Hint, tc.text) {
				t.Fatalf("got %s, want one %s at %v containing %q", dump(diags), tc.code, tc.pos, tc.text)
			}
		})
	}
}

func TestDuplicatePackageWarns(t *testing.T) {
	doc, diags := Parse("p.yaml", []byte("base: debian\npackages:\n  base: [vim]\n  utils: [git, vim]"))
	if diags.HasErrors() || len(doc.Spec.Packages.Items) != 2 {
		t.Fatalf("got %s %+v", dump(diags), doc.Spec.Packages)
	}
	w := diags.Warnings()
	if len(w) != 1 || w[0].Pos != (Pos{4, 16}) || !strings.Contains(w[0].Message, "first at line 3") {
		t.Fatalf("want one duplicate warning at 4:16, got %s", dump(diags))
	}
}

func TestDecodeShapes(t *testing.T) {
	doc, diags := Parse("s.yaml", []byte(`base: debian
securityFeatures:
  mac: apparmor
  kernelHardening: true
  firewall:
    allowedPorts: [22, "8000-8100/udp", "53/udp"]
customization:
  dotfiles: https://github.com/me/dots
postInstall:
  scripts:
    - echo one
    - {name: two.sh, run: echo two}
`))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s := doc.Spec
	if !reflect.DeepEqual(s.SecurityFeatures.MAC, MAC{MACAppArmor}) {
		t.Errorf("mac = %v", s.SecurityFeatures.MAC)
	}
	if s.SecurityFeatures.KernelHardening != KernelHardening(HardeningBasic) {
		t.Errorf("kernelHardening = %q, want basic for true", s.SecurityFeatures.KernelHardening)
	}
	wantPorts := []Port{{22, 22, "tcp"}, {8000, 8100, "udp"}, {53, 53, "udp"}}
	if !reflect.DeepEqual(s.SecurityFeatures.Firewall.AllowedPorts, wantPorts) {
		t.Errorf("ports = %v", s.SecurityFeatures.Firewall.AllowedPorts)
	}
	if !s.SecurityFeatures.Firewall.IsEnabled() || s.SecurityFeatures.Firewall.Backend != FirewallNftables || s.SecurityFeatures.Firewall.DefaultPolicy != PolicyDrop {
		t.Errorf("firewall defaults not applied: %+v", s.SecurityFeatures.Firewall)
	}
	if s.Customization.Dotfiles.Repo != "https://github.com/me/dots" {
		t.Errorf("dotfiles = %+v", s.Customization.Dotfiles)
	}
	wantScripts := []Script{{Name: "01-post-install.sh", Run: "echo one"}, {Name: "two.sh", Run: "echo two"}}
	if !reflect.DeepEqual(s.PostInstall.Scripts, wantScripts) {
		t.Errorf("scripts = %+v", s.PostInstall.Scripts)
	}
}

func TestDefaults(t *testing.T) {
	doc, diags := Parse("d.yaml", []byte("base: alpine\n"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s := doc.Spec
	got := []string{string(s.Release), string(s.Architecture), string(s.Init), string(s.Kernel.Version), string(s.Filesystem.Root),
		string(s.Filesystem.Encryption), string(s.Display.Server), string(s.Customization.Shell), string(s.Customization.Bootloader)}
	want := []string{"3.20", "x86_64", "openrc", "lts", "ext4", "none", "none", "bash", "grub"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults %v, want %v", got, want)
	}
	if s.SecurityFeatures.Firewall.Enabled != nil {
		t.Fatalf("firewall enabled without a firewall section")
	}
}

// structuralCases are shared with the schema drift test.
var structuralCases = []struct {
	name, yaml string
	code       Code
	pos        Pos
	path, text string
}{
	{"missing base", "name: x", CodeRequired, Pos{1, 1}, "base", "missing required field"},
	{"empty file", "", CodeRequired, Pos{1, 1}, "", "empty"},
	{"comment only", "# nothing\n", CodeRequired, Pos{1, 1}, "", "empty"},
	{"top-level list", "- base: debian", CodeType, Pos{1, 1}, "", "expected a mapping"},
	{"unknown nested field with case hint", "base: debian\nsecurityFeatures:\n  SSH: {enable: true}", CodeUnknownField, Pos{3, 3}, "securityFeatures.SSH", "did you mean \"ssh\"?"},
	{"bool for string", "base: debian\nname: true", CodeType, Pos{2, 7}, "name", "expected a string"},
	{"string for bool", "base: debian\ndefaults: {trim: yes}", CodeType, Pos{2, 18}, "defaults.trim", "expected true or false"},
	{"float for int", "base: debian\ndefaults: {swappiness: 1.5}", CodeType, Pos{2, 24}, "defaults.swappiness", "expected an integer"},
	{"huge int", "base: debian\ndefaults: {swappiness: 99999999999999999999}", CodeRange, Pos{2, 24}, "defaults.swappiness", "out of range"},
	{"list too long", "base: debian\nbackup: {destinations: [" + strings.Repeat("/a,", 17) + "]}", CodeRange, Pos{2, 24}, "backup.destinations", "at most 16"},
	{"duplicate service", "base: debian\nservices: {databases: [redis, redis]}", CodeEnum, Pos{2, 31}, "services.databases[1]", "listed twice"},
	{"dotfile path escapes home", "base: debian\ncustomization:\n  dotfiles:\n    files: {\"../../etc/passwd\": x}", CodePattern, Pos{4, 13}, `customization.dotfiles.files["../../etc/passwd"]`, "inside the home directory"},
	{"absolute dotfile path", "base: debian\ncustomization:\n  dotfiles:\n    files: {/etc/shadow: x}", CodePattern, Pos{4, 13}, `customization.dotfiles.files["/etc/shadow"]`, "no leading /"},
	{"repo url with command", "base: debian\ncustomization: {dotfiles: \"https://x.io/a;reboot\"}", CodePattern, Pos{2, 27}, "customization.dotfiles", "repository URL"},
	{"destination with space", "base: debian\nbackup: {tool: restic, destinations: [\"/mnt/a b\"]}", CodePattern, Pos{2, 39}, "backup.destinations[0]", "without spaces"},
	{"kernel param with quote", "base: debian\ndefaults: {kernelParams: [\"init=/bin/sh'\"]}", CodePattern, Pos{2, 27}, "defaults.kernelParams[0]", "kernel parameter"},
	{"sysctl key", "base: debian\npostInstall: {systemTuning: {sysctl: {\"vm swappiness\": \"1\"}}}", CodePattern, Pos{2, 39}, `postInstall.systemTuning.sysctl["vm swappiness"]`, "sysctl key"},
	{"port string out of range", "base: debian\nsecurityFeatures: {firewall: {allowedPorts: [\"70000/tcp\"]}}", CodePattern, Pos{2, 46}, "securityFeatures.firewall.allowedPorts[0]", "not a port"},
	{"port range reversed", "base: debian\nsecurityFeatures: {firewall: {allowedPorts: [\"90-80\"]}}", CodeRule, Pos{2, 46}, "securityFeatures.firewall.allowedPorts[0]", "ends before it starts"},
	{"empty script", "base: debian\npostInstall: {scripts: [\"\"]}", CodeRange, Pos{2, 25}, "postInstall.scripts[0]", "empty"},
	{"script missing run", "base: debian\npostInstall: {scripts: [{name: a.sh}]}", CodeRequired, Pos{2, 25}, "postInstall.scripts[0].run", "missing required field"},
	{"merge key", "base: debian\nx: &x {a: 1}\nkernel:\n  <<: *x", CodeMergeKey, Pos{4, 3}, "", "merge keys"},
	{"non-string key", "base: debian\n? [a]\n: 1", CodeType, Pos{2, 3}, "", "plain string"},
	{"two documents", "base: debian\n---\nbase: arch\n", CodeMultiDoc, Pos{2, 1}, "", "more than one YAML document"},
	{"syntax error", "base: debian\npackages: [vim\n", CodeSyntax, Pos{1, 1}, "", "invalid YAML"},
	{"user name with a command", "base: debian\nusers:\n  - name: \"a;reboot\"", CodePattern, Pos{3, 11}, "users[0].name", "login name"},
	{"user name upper case", "base: debian\nusers:\n  - name: Alice", CodePattern, Pos{3, 11}, "users[0].name", "login name"},
	{"user without a name", "base: debian\nusers:\n  - sudo: true", CodeRequired, Pos{3, 5}, "users[0].name", "missing required field"},
	{"plain password", "base: debian\nusers:\n  - name: alice\n    passwordHash: hunter2", CodePattern, Pos{4, 19}, "users[0].passwordHash", "mkpasswd"},
	{"md5 crypt hash", "base: debian\nusers:\n  - name: alice\n    passwordHash: \"$1$abc$0123456789012345678901\"", CodePattern, Pos{4, 19}, "users[0].passwordHash", "crypt(3)"},
	{"hash with a command", "base: debian\nusers:\n  - name: alice\n    passwordHash: \"$6$x$$(reboot)\"", CodePattern, Pos{4, 19}, "users[0].passwordHash", "crypt(3)"},
	{"hash with a second line", "base: debian\nusers:\n  - name: alice\n    passwordHash: \"HASH\\nroot::0:0::/:/bin/sh\"", CodePattern, Pos{4, 19}, "users[0].passwordHash", "crypt(3)"},
	{"ssh key with a second line", "base: debian\nusers:\n  - name: a\n    sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3Nz a\\nssh-rsa AAAAB3Nz b\"]", CodePattern, Pos{4, 25}, "users[0].sshAuthorizedKeys[0]", "ssh-keygen"},
	{"ssh key with options", "base: debian\nusers:\n  - name: a\n    sshAuthorizedKeys: [\"command=\\\"id\\\" ssh-ed25519 AAAAC3Nz a\"]", CodePattern, Pos{4, 25}, "users[0].sshAuthorizedKeys[0]", "no options"},
	{"ssh key of an unknown type", "base: debian\nusers:\n  - name: a\n    sshAuthorizedKeys: [\"ssh-foo AAAAC3Nz a\"]", CodePattern, Pos{4, 25}, "users[0].sshAuthorizedKeys[0]", "public key"},
	{"ssh key comment with a quote", "base: debian\nusers:\n  - name: a\n    sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3Nz it's\"]", CodePattern, Pos{4, 25}, "users[0].sshAuthorizedKeys[0]", "public key"},
	{"shell as a relative path", "base: debian\nusers:\n  - name: a\n    shell: bin/sh", CodePattern, Pos{4, 12}, "users[0].shell", "absolute path"},
	{"shell through dot-dot", "base: debian\nusers:\n  - name: a\n    shell: /bin/../tmp/x", CodePattern, Pos{4, 12}, "users[0].shell", "absolute path"},
	{"shell with a command", "base: debian\nusers:\n  - name: a\n    shell: \"/bin/sh -c $(id)\"", CodePattern, Pos{4, 12}, "users[0].shell", "absolute path"},
	{"group with a space", "base: debian\nusers:\n  - name: a\n    groups: [\"wheel root\"]", CodePattern, Pos{4, 14}, "users[0].groups[0]", "group name"},
	{"password auth without a hash", "base: debian\nsecurityFeatures:\n  ssh:\n    enable: true\n    passwordAuth: true\n    fail2ban: true", CodeRule, Pos{5, 5}, "securityFeatures.ssh.passwordAuth", "passwordHash"},
	{"password auth with a key-only user", "base: debian\nusers: [{name: a, sshAuthorizedKeys: [\"ssh-ed25519 AAAAC3Nz a\"]}]\nsecurityFeatures:\n  ssh: {enable: true, passwordAuth: true, fail2ban: true}", CodeRule, Pos{4, 23}, "securityFeatures.ssh.passwordAuth", "no user has one"},
	{"kernel param with a brace", "base: debian\ndefaults: {kernelParams: [\"x=}\\nmenuentry\"]}", CodePattern, Pos{2, 27}, "defaults.kernelParams[0]", "kernel parameter"},
	{"kernel param with a dollar", "base: debian\ndefaults: {kernelParams: [\"x=${root}\"]}", CodePattern, Pos{2, 27}, "defaults.kernelParams[0]", "kernel parameter"},
	{"kernel param with a semicolon", "base: debian\ndefaults: {kernelParams: [\"quiet;reboot\"]}", CodePattern, Pos{2, 27}, "defaults.kernelParams[0]", "kernel parameter"},
	{"ssh destination with an option as host", "base: debian\nbackup: {tool: borg, destinations: [\"ssh://-oProxyCommand=x/repo\"]}", CodePattern, Pos{2, 37}, "backup.destinations[0]", "option"},
	{"sftp destination with an option as host", "base: debian\nbackup: {tool: restic, destinations: [\"sftp:-oProxyCommand=x:/r\"]}", CodePattern, Pos{2, 39}, "backup.destinations[0]", "option"},
	{"rsync destination with an option after @", "base: debian\nbackup: {tool: rsync, destinations: [\"u@-oProxyCommand=x:/r\"]}", CodePattern, Pos{2, 38}, "backup.destinations[0]", "option"},
	{"package url", "base: fedora\npackages: [\"https://evil.example/x.rpm\"]", CodePattern, Pos{2, 12}, "packages[0]", "not a URL"},
	{"package url without scheme slashes", "base: fedora\npackages: [\"http:/evil.example/x.rpm\"]", CodePattern, Pos{2, 12}, "packages[0]", "not a URL"},
	{"package absolute path", "base: fedora\npackages: [/tmp/x.rpm]", CodePattern, Pos{2, 12}, "packages[0]", "not a URL or a path"},
	{"package relative path", "base: debian\npackages:\n  - ./x.deb", CodePattern, Pos{3, 5}, "packages[0]", "not a URL or a path"},
	{"package parent path", "base: debian\npackages:\n  utils: [../x.deb]", CodePattern, Pos{3, 11}, "packages.utils[0]", "not a URL or a path"},
	{"package path inside a name", "base: gentoo\npackages: [dev-lang/../../x]", CodePattern, Pos{2, 12}, "packages[0]", "not a URL or a path"},
	{"package url as a map key", "base: alpine\npackages: {\"https://evil.example/x.apk\": true}", CodePattern, Pos{2, 12}, `packages["https://evil.example/x.apk"]`, "not a URL"},
	{"package slash on fedora", "base: fedora\npackages: [rpms/x]", CodeRule, Pos{2, 12}, "packages[0]", "Fedora"},
	{"package file name", "base: opensuse\npackages: [x.rpm]", CodeRule, Pos{2, 12}, "packages[0]", "package file"},
	{"tab indentation", "base: debian\nkernel:\n\tversion: lts\n", CodeSyntax, Pos{3, 1}, "", "invalid YAML"},
}

func TestStructuralErrors(t *testing.T) {
	for _, tc := range structuralCases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := parseBounded(t, "s.yaml", []byte(tc.yaml))
			errs := diags.Errors()
			if len(errs) == 0 {
				t.Fatalf("no error")
			}
			e := errs[0]
			if e.Code != tc.code || e.Pos != tc.pos || e.Path != tc.path || !strings.Contains(e.Message+" "+e.Hint, tc.text) {
				t.Fatalf("got %s\nwant %s at %d:%d path %q containing %q", dump(errs), tc.code, tc.pos.Line, tc.pos.Column, tc.path, tc.text)
			}
		})
	}
}

func TestJSONInputHasPositions(t *testing.T) {
	src := "{\n\t\"base\": \"debian\",\n\t\"display\": {\n\t\t\"compositor\": \"sway\"\n\t}\n}\n"
	_, diags := Parse("spec.json", []byte(src))
	errs := diags.Errors()
	if len(errs) != 1 || errs[0].Pos != (Pos{4, 3}) || errs[0].Path != "display.compositor" {
		t.Fatalf("got %s", dump(diags))
	}
}

func TestJSONRejectsYAMLOnlySyntax(t *testing.T) {
	_, diags := Parse("spec.json", []byte("base: debian\n"))
	if errs := diags.Errors(); len(errs) != 1 || errs[0].Code != CodeSyntax || errs[0].Pos != (Pos{1, 1}) {
		t.Fatalf("got %s", dump(diags))
	}
}

// The normal form written back as JSON decodes to the same spec: the
// resolved spec a release carries can be fed to the bot again.
func TestNormalisedSpecRoundTrips(t *testing.T) {
	for _, file := range specFiles(t, "examples/*.yaml") {
		doc, diags := Parse(file, mustRead(t, file))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		assertRoundTrip(t, file, doc.Spec)
	}
}

func assertRoundTrip(t testing.TB, file string, s *Spec) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("%s: marshal: %v", file, err)
	}
	doc2, diags := Parse("resolved.json", b)
	if diags.HasErrors() {
		t.Fatalf("%s: resolved spec does not parse: %s\n%s", file, diags.Error(), b)
	}
	b2, err := json.Marshal(doc2.Spec)
	if err != nil {
		t.Fatalf("%s: marshal again: %v", file, err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("%s: round trip changed the spec:\n%s\n%s", file, b, b2)
	}
}

func TestNullRequiredFieldIsMissing(t *testing.T) {
	_, diags := Parse("n.yaml", []byte("name: x\nbase:\n"))
	errs := diags.Errors()
	if len(errs) != 1 || errs[0].Code != CodeRequired || errs[0].Pos != (Pos{2, 1}) || !strings.Contains(errs[0].Message, "has no value") {
		t.Fatalf("got %s", dump(diags))
	}
}

func TestOffsetPosCountsEveryLineBreak(t *testing.T) {
	src := []byte("a\r\nb\rc\nd\xff")
	if got := offsetPos(src, len(src)-1); got != (Pos{4, 2}) {
		t.Fatalf("offsetPos = %+v, want 4:2", got)
	}
	_, diags := Parse("cr.yaml", []byte("base: debian\rname: caf\xe9\r"))
	if errs := diags.Errors(); len(errs) != 1 || errs[0].Pos != (Pos{2, 10}) {
		t.Fatalf("got %s", dump(diags))
	}
}

func TestEmptyFirewallSectionEnablesDefaults(t *testing.T) {
	for _, src := range []string{"base: debian\nsecurityFeatures: {firewall: {}}", "base: debian\nsecurityFeatures: {firewall: {allowedPorts: []}}"} {
		doc, diags := Parse("f.yaml", []byte(src))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		fw := doc.Spec.SecurityFeatures.Firewall
		if !fw.IsEnabled() || fw.Backend != FirewallNftables || fw.DefaultPolicy != PolicyDrop {
			t.Fatalf("%q: firewall %+v", src, fw)
		}
	}
}

func TestIntegralFloatsAreIntegers(t *testing.T) {
	doc, diags := Parse("i.yaml", []byte("base: debian\ndefaults: {swappiness: 08}\nsecurityFeatures: {firewall: {allowedPorts: [22.0]}}\n"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if *doc.Spec.Defaults.Swappiness != 8 || doc.Spec.SecurityFeatures.Firewall.AllowedPorts[0].From != 22 {
		t.Fatalf("got swappiness %d, port %v", *doc.Spec.Defaults.Swappiness, doc.Spec.SecurityFeatures.Firewall.AllowedPorts)
	}
}

func TestEmptyScriptInObjectFormIsAnError(t *testing.T) {
	_, diags := Parse("s.yaml", []byte("base: debian\npostInstall:\n  scripts:\n    - run: |\n"))
	errs := diags.Errors()
	if len(errs) != 1 || errs[0].Code != CodeRange || !strings.Contains(errs[0].Message, "empty") {
		t.Fatalf("got %s", dump(diags))
	}
}
