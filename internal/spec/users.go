package spec

import (
	"regexp"
	"slices"
)

// User is a login account of the image. Without any, the image has one
// console user whose password is unusable and which logs in automatically
// on the console only; SSH then takes keys alone.
type User struct {
	Name              UserName       `json:"name" jsonschema:"required"`
	Groups            []GroupName    `json:"groups,omitempty" jsonschema:"maxItems=32,uniqueItems=true" jsonschema_description:"Supplementary groups; a group the image lacks is created."`
	Sudo              bool           `json:"sudo,omitempty" jsonschema_description:"Member of the administrators' group. A sudo user without passwordHash runs sudo without a password (it has none)."`
	Shell             LoginShell     `json:"shell,omitempty"`
	SSHAuthorizedKeys []SSHPublicKey `json:"sshAuthorizedKeys,omitempty" jsonschema:"maxItems=32,uniqueItems=true" jsonschema_description:"Public keys allowed to log in as this user over SSH, one key per item."`
	PasswordHash      PasswordHash   `json:"passwordHash,omitempty"`
}

// Named string types of users.
type (
	// UserName is a POSIX login name.
	UserName string
	// GroupName is a group name.
	GroupName string
	// LoginShell is a known shell's name or an absolute path.
	LoginShell string
	// SSHPublicKey is one authorized_keys line: type, key, comment.
	SSHPublicKey string
	// PasswordHash is a crypt(3) hash, never a password.
	PasswordHash string
)

// KnownShells are the shells a user may name without a path; the renderer
// installs the package.
var KnownShells = []string{"bash", "zsh", "fish", "sh", "dash", "ksh", "mksh", "tcsh"}

var (
	// reUserName is the portable login name that useradd accepts everywhere:
	// lower-case, starting with a letter or _, no '.', no trailing '$'.
	reUserName = regexp.MustCompile(`^[a-z_][a-z0-9_\-]*$`)
	// reLoginShell is a known shell or an absolute path of plain segments
	// (none starts with '.', so no "." or ".." segment).
	reLoginShell = regexp.MustCompile(`^(bash|zsh|fish|sh|dash|ksh|mksh|tcsh|(/[A-Za-z0-9_+\-][A-Za-z0-9._+\-]*)+)$`)
	// reSSHKey is a known key type, its base64 blob and an optional plain
	// comment: no options (command="…"), quotes or line breaks.
	reSSHKey = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) AAAA[A-Za-z0-9+/]+={0,3}( [A-Za-z0-9@._+:,=/\-]+)*$`)
	// rePasswordHash is a crypt(3) hash of a modern method: yescrypt ($y$,
	// $gy$), SHA-512 ($6$), SHA-256 ($5$) or bcrypt ($2b$, $2a$, $2y$).
	rePasswordHash = regexp.MustCompile(`^(\$g?y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}` +
		`|\$6\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}` +
		`|\$5\$(rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}` +
		`|\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53})$`)
)

func init() {
	pattern[UserName]("Login name: lower-case letters, digits, _ and -, starting with a letter or _ (at most 32).",
		"a login name (lower-case letters, digits, _ and -, starting with a letter or _)", 32, reUserName)
	pattern[GroupName]("Group name: lower-case letters, digits, _ and -, starting with a letter or _.",
		"a group name (lower-case letters, digits, _ and -, starting with a letter or _)", 32, reUserName)
	pattern[LoginShell]("Login shell: bash, zsh, fish, sh, dash, ksh, mksh or tcsh, or an absolute path such as /usr/bin/zsh. Default: customization.shell.",
		"a known shell (bash, zsh, fish, sh, dash, ksh, mksh, tcsh) or an absolute path of letters, digits and . _ + -", 128, reLoginShell)
	pattern[SSHPublicKey]("Public key, as in authorized_keys: type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-…@openssh.com), base64 key, optional comment. No options.",
		"one public key (type, base64 key, optional comment of letters, digits and @ . _ + : , = / -; no options, quotes or line breaks)", 8192, reSSHKey)
	hinted[SSHPublicKey]("paste one line of a .pub file, such as the output of ssh-keygen -y -f ~/.ssh/id_ed25519")
	pattern[PasswordHash]("Password hash in crypt(3) form ($y$ yescrypt, $6$ SHA-512, $5$ SHA-256 or $2b$ bcrypt), never the password itself. Leave it out for a user that logs in with keys only.",
		"a crypt(3) password hash ($y$, $gy$, $6$, $5$, $2b$, $2a$ or $2y$)", 256, rePasswordHash)
	hinted[PasswordHash]("never write the password itself: generate the hash with mkpasswd -m yescrypt, or openssl passwd -6")
}

// reservedUsers are accounts that distributions create for the system or
// for daemons; a spec may not create or take over one.
var reservedUsers = []string{
	"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
	"backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "halt", "shutdown", "operator", "ftp", "sshd",
	"messagebus", "dbus", "polkitd", "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-journal",
	"systemd-coredump", "systemd-oom", "_apt", "avahi", "ntp", "chrony", "postfix", "postgres", "mysql", "redis",
	"nginx", "apache", "http", "tss", "uuidd", "wheel", "sudo", "admin", "shadow", "disk", "kmem", "tty", "utmp",
	"input", "kvm", "video", "audio", "render", "docker",
}

// ruleUsers checks what a user list needs beyond each field's pattern: no
// duplicate or reserved names, and a way to log in.
func ruleUsers(c *ruleCtx) {
	seen := map[UserName]int{}
	for i, u := range c.s.Users {
		path := indexPath("users", i)
		if j, dup := seen[u.Name]; dup {
			c.errorf(path+".name", "give each user its own name", "user %s is defined twice (first as item %d)", u.Name, j+1)
		}
		seen[u.Name] = i
		if slices.Contains(reservedUsers, string(u.Name)) || len(u.Name) > 8 && u.Name[:8] == "systemd-" {
			c.errorf(path+".name", "choose a personal login name", "%s is a system account name", u.Name)
		}
		if u.PasswordHash == "" && len(u.SSHAuthorizedKeys) == 0 {
			c.warnf(path, "add sshAuthorizedKeys or a passwordHash", "user %s has neither a password nor a key, so nobody can log in as it", u.Name)
		}
		if len(u.SSHAuthorizedKeys) > 0 && !c.s.SecurityFeatures.SSH.Enable {
			c.warnf(path+".sshAuthorizedKeys", "set securityFeatures.ssh.enable: true", "the SSH server is not enabled, so these keys are not used")
		}
	}
	if c.s.SecurityFeatures.SSH.PasswordAuth && !slices.ContainsFunc(c.s.Users, func(u User) bool { return u.PasswordHash != "" }) {
		c.errorf("securityFeatures.ssh.passwordAuth", "add a user with a passwordHash, or use sshAuthorizedKeys and passwordAuth: false",
			"password logins need a user with a passwordHash; no user has one (there is no default password)")
	}
}
