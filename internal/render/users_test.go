package render

import (
	"regexp"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

const (
	testHash = "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG."
	testKey  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPSnvmxC64iuNJC5d6CSW+r+BXpBLNmWoVwhMY1WANhT alice@laptop"
)

// A spec without users renders no password at all: the console user's
// password matches nothing, it logs in automatically on the console, and
// nothing sets a password (chpasswd, live:live) anywhere in the context.
func TestDefaultSpecHasNoKnownPassword(t *testing.T) {
	r := newRenderer(t)
	knownPassword := regexp.MustCompile(`chpasswd|live:live|'live' \| |echo .*:.* \| chpasswd|passwd --stdin`)
	for _, base := range spec.Bases {
		t.Run(string(base), func(t *testing.T) {
			doc, diags := spec.Parse("d.yaml", []byte("base: "+string(base)+"\nsecurityFeatures: {ssh: {enable: true}}\n"))
			c, err := r.Render(doc, diags, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range c.Files {
				if f.Path == "rootfs/usr/local/sbin/linux-builder-install" {
					// The installer sets the password its operator gives
					// (typed twice, or a password file), and nothing else.
					const operators = `printf '%s:%s\n' "$u" "$(cat "$pw")" | chpasswd -R "$TARGET"`
					if n := strings.Count(string(f.Data), "| chpasswd"); n != 1 || !strings.Contains(string(f.Data), operators) {
						t.Errorf("%s: runs chpasswd %d times, want once, as %s", f.Path, n, operators)
					}
					continue
				}
				if loc := knownPassword.FindIndex(f.Data); loc != nil {
					t.Errorf("%s sets a known password: %q", f.Path, f.Data[loc[0]:loc[1]])
				}
			}
			setup := string(c.File("rootfs/usr/local/lib/linux-builder/setup.sh").Data)
			for _, want := range []string{"add_user 'live' 'bash' ", "usermod -p '*' \"$name\"", "passwd -l root", `log "console autologin as" 'live'`} {
				if !strings.Contains(setup, want) {
					t.Errorf("setup.sh lacks %q", want)
				}
			}
			if strings.Contains(setup, "usermod -p '$") {
				t.Error("setup.sh sets a password hash for the console user")
			}
			sshd := string(c.File("rootfs/etc/ssh/sshd_config.d/10-linux-builder.conf").Data)
			if !strings.Contains(sshd, "PasswordAuthentication no") {
				t.Errorf("sshd takes passwords:\n%s", sshd)
			}
		})
	}
}

// Users are rendered with their hashes, keys, groups and sudo, each value
// one single-quoted word; no console autologin then.
func TestUsersAreRendered(t *testing.T) {
	src := "base: debian\nusers:\n" +
		"  - {name: alice, sudo: true, shell: zsh, groups: [docker], passwordHash: \"" + testHash + "\", sshAuthorizedKeys: [\"" + testKey + "\"]}\n" +
		"  - {name: bob, sudo: true, shell: /bin/sh, sshAuthorizedKeys: [\"" + testKey + "\"]}\n" +
		"  - {name: carol, sshAuthorizedKeys: [\"" + testKey + "\"]}\n" +
		"securityFeatures: {ssh: {enable: true, passwordAuth: true, fail2ban: true}}\n"
	c := renderYAML(t, src, Options{})
	setup := string(c.File("rootfs/usr/local/lib/linux-builder/setup.sh").Data)
	for _, want := range []string{
		"add_user 'alice' 'zsh' 'docker' 'sudo'\n",
		"usermod -p '" + testHash + "' 'alice'\n",
		"authorize 'alice' \\\n\t'" + testKey + "'\n",
		"add_user 'bob' '/bin/sh' 'sudo'\n",
		"add_user 'carol' 'bash'\n",
	} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup.sh lacks %q", want)
		}
	}
	if strings.Contains(setup, "autologin") && strings.Contains(setup, "console autologin as") {
		t.Error("console autologin with spec users")
	}
	if strings.Contains(setup, "'live'") {
		t.Error("the console user is created although the spec has users")
	}
	if n := strings.Count(setup, "usermod -p '$"); n != 1 {
		t.Errorf("%d password hashes set, want 1 (alice's)", n)
	}
	if !strings.Contains(string(c.File("Dockerfile").Data), "'zsh'") {
		t.Error("alice's shell zsh is not installed")
	}
	sudo := c.File("rootfs/etc/sudoers.d/20-linux-builder-users")
	if sudo == nil || sudo.Mode != 0o440 {
		t.Fatal("sudoers drop-in for password-less sudo users missing or with the wrong mode")
	}
	if got := string(sudo.Data); !strings.Contains(got, "\nbob ALL=(ALL:ALL) NOPASSWD: ALL\n") || strings.Contains(got, "alice") || strings.Contains(got, "carol") {
		t.Errorf("sudoers:\n%s", got)
	}
	if sshd := string(c.File("rootfs/etc/ssh/sshd_config.d/10-linux-builder.conf").Data); !strings.Contains(sshd, "PasswordAuthentication yes") {
		t.Errorf("passwordAuth not rendered:\n%s", sshd)
	}
}

// Defence in depth: a hostile value that got past the spec's validation
// (here written into the decoded spec directly) is refused by the renderer
// rather than written into setup.sh.
func TestRenderRefusesHostileUsers(t *testing.T) {
	r := newRenderer(t)
	payloads := []string{"a\nb", "$(reboot)", "x;reboot", "it's", "`id`", "a b"}
	fields := []struct {
		name string
		set  func(u *spec.User, p string)
	}{
		{"name", func(u *spec.User, p string) { u.Name = spec.UserName(p) }},
		{"group", func(u *spec.User, p string) { u.Groups = []spec.GroupName{spec.GroupName(p)} }},
		{"shell", func(u *spec.User, p string) { u.Shell = spec.LoginShell("/bin/" + p) }},
		{"hash", func(u *spec.User, p string) { u.PasswordHash = spec.PasswordHash("$6$salt$" + p) }},
		{"key", func(u *spec.User, p string) {
			u.SSHAuthorizedKeys = []spec.SSHPublicKey{spec.SSHPublicKey(testKey + " " + p)}
		}},
	}
	for _, f := range fields {
		for _, p := range payloads {
			if f.name == "key" && p == "a b" {
				continue // a comment of two words: valid
			}
			t.Run(f.name+"/"+p, func(t *testing.T) {
				doc, diags := spec.Parse("u.yaml", []byte("base: debian\nusers: [{name: alice, passwordHash: \""+testHash+"\"}]\n"))
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				f.set(&doc.Spec.Users[0], p)
				c, err := r.Render(doc, diags, Options{})
				if err == nil {
					t.Fatalf("rendered a hostile %s %q:\n%s", f.name, p, c.File("rootfs/usr/local/lib/linux-builder/setup.sh").Data)
				}
			})
		}
	}
}
