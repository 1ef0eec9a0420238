package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// sshServiceOf is the SSH server's service name on each distribution.
func sshServiceOf(b spec.Base) string {
	if b == spec.BaseDebian || b == spec.BaseUbuntu {
		return "ssh"
	}
	return "sshd"
}

// distroMakesHostKeys are the distributions whose own SSH service makes
// the missing host keys under an init system: Arch's sshdgenkeys.service
// and Fedora's sshd-keygen@.service (both pulled in by sshd.service),
// Alpine's OpenRC sshd script. The renderer adds nothing there.
var distroMakesHostKeys = map[spec.Base]spec.InitSystem{
	spec.BaseArch: spec.InitSystemd, spec.BaseFedora: spec.InitSystemd, spec.BaseAlpine: spec.InitOpenRC,
}

var labelRe = regexp.MustCompile(`io\.linux-builder\.(base|init)="([a-z0-9]+)"`)

// No image carries SSH host keys (every machine booting a published image
// would share them, and so would anyone who downloads it): for every
// example and render-test spec on every distribution, the Dockerfile's
// last RUN, after the setup and the postInstall scripts, removes them, and
// no layer keeps them either.
// Each machine makes its own at boot, before its SSH server starts, by
// its init's means: a systemd unit ordered before the SSH service and its
// socket, an OpenRC service before the SSH service, or (runit, s6) the SSH
// service's run script itself, which setup.sh makes generate them first.
func TestImagesCarryNoSSHHostKeys(t *testing.T) {
	r := newRenderer(t)
	extra, err := filepath.Glob(filepath.Join("testdata", "specs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{} // init → a spec with SSH was checked
	for _, file := range append(examples(t), extra...) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		for _, base := range spec.Bases {
			t.Run(name+"/"+string(base), func(t *testing.T) {
				c, refused := renderFile(t, r, file, base)
				if c == nil {
					t.Skipf("not valid on %s: %v", base, refused)
				}
				df := string(c.File("Dockerfile").Data)
				labels := map[string]string{}
				for _, m := range labelRe.FindAllStringSubmatch(df, -1) {
					labels[m[1]] = m[2]
				}
				init := spec.InitSystem(labels["init"])
				if labels["base"] != string(base) || init == "" {
					t.Fatalf("labels %v", labels)
				}
				runs := regexpRuns(df)
				last := runs[len(runs)-1]
				if !strings.Contains(last, "rm -f /etc/ssh/ssh_host_*") {
					t.Errorf("the last RUN does not remove the SSH host keys: %q", last)
				}
				// Nor does any layer keep them: a pushed or saved image
				// carries every layer. Those that may make them (packages,
				// setup, postInstall scripts) end by removing them.
				for _, run := range runs {
					if strings.Contains(run, "linux-builder/") {
						continue // setup.sh or the postInstall runner: below
					}
					if !strings.HasSuffix(run, "rm -f /etc/ssh/ssh_host_*") {
						t.Errorf("a RUN keeps the SSH host keys in its layer: %q", run)
					}
				}
				for _, script := range []string{"setup.sh", "run-post-install.sh"} {
					body := strings.TrimSuffix(string(c.File(root+libDir+"/"+script).Data), "\n")
					if !regexp.MustCompile(`\nrm -f /etc/ssh/ssh_host_\*(\nlog "setup done")?$`).MatchString(body) {
						t.Errorf("%s does not end by removing the SSH host keys:\n%s", script, body[max(0, len(body)-300):])
					}
				}
				if setup := strings.Index(df, "linux-builder/setup.sh\"]"); setup < 0 || setup > strings.LastIndex(df, last) ||
					strings.LastIndex(df, "run-post-install.sh") > strings.LastIndex(df, last) {
					t.Errorf("the removal is not after the setup and the postInstall scripts:\n%s", df)
				}
				if c.File(root+"etc/ssh/sshd_config.d/10-linux-builder.conf") == nil {
					return // no SSH server enabled
				}
				seen[string(init)] = true
				checkHostKeygen(t, c, base, init)
			})
		}
	}
	for _, init := range []spec.InitSystem{spec.InitSystemd, spec.InitOpenRC, spec.InitRunit, spec.InitS6} {
		if !seen[string(init)] {
			t.Errorf("no spec with SSH on init %s was checked", init)
		}
	}
}

// checkHostKeygen checks that a context whose spec enables SSH makes the
// host keys at boot before the SSH server starts.
func checkHostKeygen(t *testing.T, c *Context, base spec.Base, init spec.InitSystem) {
	t.Helper()
	svc := sshServiceOf(base)
	setup := string(c.File(root + libDir + "/setup.sh").Data)
	enableSSH := strings.Index(setup, "\nenable_service "+shQuote(svc)+"\n")
	if enableSSH < 0 {
		t.Fatalf("setup.sh does not enable %s", svc)
	}
	unit := c.File(root + "etc/systemd/system/linux-builder-ssh-keygen.service")
	openrc := c.File(root + "etc/init.d/linux-builder-ssh-keygen")
	if distroMakesHostKeys[base] == init {
		if unit != nil || openrc != nil || strings.Contains(setup, "ssh-keygen") {
			t.Errorf("%s's own %s service makes the host keys, yet the context adds a key generation", base, init)
		}
		return
	}
	switch init {
	case spec.InitSystemd:
		if unit == nil {
			t.Fatal("no linux-builder-ssh-keygen.service")
		}
		u := string(unit.Data)
		for _, want := range []string{
			// ECDSA and Ed25519 before the server; RSA, slow under
			// emulation, after it (the unit below).
			`ExecStart=/bin/sh -c 'for t in ecdsa ed25519; do k=/etc/ssh/ssh_host_$${t}_key; [ -e "$$k" ] || ssh-keygen -q -t "$$t" -N "" -f "$$k" || exit 1; done'` + "\n",
			// Before the service (Debian's runs sshd -t first, which fails
			// without keys) and its socket; without the default
			// dependencies, which order a service after sockets.target,
			// being before the socket would be a cycle.
			"\nBefore=" + svc + ".service " + svc + ".socket ",
			"\nDefaultDependencies=no\n",
			"\nWantedBy=multi-user.target\n",
		} {
			if !strings.Contains(u, want) {
				t.Errorf("linux-builder-ssh-keygen.service lacks %q:\n%s", want, u)
			}
		}
		if !strings.Contains(setup, "\nenable_service 'linux-builder-ssh-keygen'\n") {
			t.Error("setup.sh does not enable linux-builder-ssh-keygen")
		}
		rsa := c.File(root + "etc/systemd/system/linux-builder-ssh-keygen-rsa.service")
		if rsa == nil {
			t.Fatal("no linux-builder-ssh-keygen-rsa.service")
		}
		r := string(rsa.Data)
		for _, want := range []string{
			"\nAfter=local-fs.target " + svc + ".service\n",
			// No default dependencies: multi-user.target (and so the boot
			// test's marker) does not wait for the slow key.
			"\nDefaultDependencies=no\n",
			"\nConditionPathExists=!/etc/ssh/ssh_host_rsa_key\n",
			"\nExecStart=ssh-keygen -q -t rsa -b 3072 -N \"\" -f /etc/ssh/ssh_host_rsa_key\n",
			"\nExecStartPost=-systemctl --no-block try-reload-or-restart " + svc + ".service\n",
			"\nWantedBy=multi-user.target\n",
		} {
			if !strings.Contains(r, want) {
				t.Errorf("linux-builder-ssh-keygen-rsa.service lacks %q:\n%s", want, r)
			}
		}
		if !strings.Contains(setup, "\nenable_service 'linux-builder-ssh-keygen-rsa'\n") {
			t.Error("setup.sh does not enable linux-builder-ssh-keygen-rsa")
		}
	case spec.InitOpenRC:
		if openrc == nil {
			t.Fatal("no /etc/init.d/linux-builder-ssh-keygen")
		}
		s := string(openrc.Data)
		if !regexp.MustCompile(`\n\tbefore `+svc+`\n`).MatchString(s) || !strings.Contains(s, "\tssh-keygen -A\n") {
			t.Errorf("the OpenRC service does not make the keys before %s:\n%s", svc, s)
		}
		if !strings.Contains(setup, "\nenable_service 'linux-builder-ssh-keygen'\n") {
			t.Error("setup.sh does not enable linux-builder-ssh-keygen")
		}
	case spec.InitRunit, spec.InitS6:
		// The SSH service's run script: the distribution's (Debian's runit
		// one runs sshd -t, and its finish script takes the service down
		// for good when that fails) or the one setup.sh writes.
		run := "/etc/sv/" + svc + "/run"
		switch {
		case init == spec.InitS6 && base == spec.BaseDebian:
			run = "/etc/s6/sv/" + svc + "/run"
		case init == spec.InitS6:
			run = "/etc/s6-rc/source/" + svc + "/run"
		}
		edit := strings.Index(setup, "\nrun="+shQuote(run)+"\n")
		if edit < enableSSH {
			t.Fatalf("setup.sh does not make %s generate the host keys after enabling %s:\n%s", run, svc, setup)
		}
		if compile := strings.Index(setup, "s6-rc-compile"); compile >= 0 && compile < edit {
			t.Error("the run script is changed after s6-rc compiled it")
		}
		checkRunScriptEdit(t, setup[edit:], run)
	}
}

// checkRunScriptEdit runs setup.sh's edit of the SSH service's run script
// on copies of the run scripts it meets: the one setup.sh writes, Debian's
// runit one, and Void's (which makes the keys already: left alone). Each
// then makes the keys first, before anything runs sshd.
func checkRunScriptEdit(t *testing.T, fromEdit, run string) {
	t.Helper()
	end := strings.Index(fromEdit, "\nfi\n")
	if end < 0 {
		t.Fatalf("no end to the run script's edit:\n%s", fromEdit)
	}
	snippet := fromEdit[:end+len("\nfi\n")]
	for name, script := range map[string]string{
		"generated": "#!/bin/sh\nexec 2>&1\nexec /usr/sbin/sshd -D -e\n",
		"debian":    "#!/usr/bin/env /lib/runit/invoke-run\nset -e\n\nNAME=\"ssh\"\n\nexec 2>&1\n\n#Config test\n/usr/sbin/sshd -t || exit 162\n\necho \"Starting $NAME...\"\nexec /usr/sbin/sshd -D -e $SSHD_OPTS\n",
		"void":      "#!/bin/sh\nexec 2>&1\nssh-keygen -A >/dev/null 2>&1 # Will generate host keys if they don't already exist\n[ -r conf ] && . ./conf\nexec /usr/sbin/sshd -D $OPTS\n",
	} {
		file := filepath.Join(t.TempDir(), "run")
		if err := os.WriteFile(file, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-euc", strings.Replace(snippet, "\nrun="+shQuote(run)+"\n", "\nrun="+shQuote(file)+"\n", 1)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s run script: the edit fails: %v\n%s\n%s", name, err, out, snippet)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		lines := strings.Split(got, "\n")
		keygen := strings.Index(got, "ssh-keygen -A")
		switch {
		case name == "void" && got != script:
			t.Errorf("Void's run script, which makes the keys, was changed:\n%s", got)
		case name != "void" && (lines[0] != strings.Split(script, "\n")[0] || lines[1] != "ssh-keygen -A"):
			t.Errorf("%s run script: the keys are not made first:\n%s", name, got)
		case strings.Count(got, "ssh-keygen") != 1 || keygen > strings.Index(got, "/usr/sbin/sshd"):
			t.Errorf("%s run script:\n%s", name, got)
		}
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s run script's mode: %v %v", name, st.Mode(), err)
		}
	}
}
