// Package proc starts host tools (tar2sqfs, grub-mkrescue, qemu,
// debootstrap…) with a minimal environment. The bot's own environment
// holds its secrets — the App's private key, the webhook secret,
// DATABASE_URL, registry and object-store credentials — and a child
// process must never inherit them: the tools read images and specs that
// strangers wrote, and anything they can read can end up in an artifact.
//
// Every child process of the bot is started here; a test in this package
// fails when another package calls os/exec directly.
package proc

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// defaultPath is used when the bot itself runs without PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Env is the whole environment a child process gets: PATH (the bot's own,
// so tools resolve as they do for the bot), LANG=C.UTF-8 for stable
// messages, TMPDIR when the bot has one, and HOME=/nonexistent so no tool
// reads the bot's dotfiles.
func Env() []string {
	p := os.Getenv("PATH")
	if p == "" {
		p = defaultPath
	}
	env := []string{"PATH=" + p, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HOME=/nonexistent"}
	if t := os.Getenv("TMPDIR"); t != "" {
		env = append(env, "TMPDIR="+t)
	}
	return env
}

// Command is exec.CommandContext with Env() as the environment, in a
// process group of its own that is killed whole when ctx ends (a tool's
// children must not outlive it), and a bounded wait for its output pipes
// after that. Callers may append to cmd.Env a variable the tool needs,
// never a secret.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// Nobody is the user and group unprivileged tools run as.
const Nobody = 65534

// AsNobody makes cmd run as the unprivileged user nobody when the bot is
// root: a tool that runs a stranger's code (QEMU runs the built system)
// then can neither read the bot's memory and /proc/<pid>/environ nor
// write anything of the host's but what is made writable for it.
// It reports whether it did.
func AsNobody(cmd *exec.Cmd) bool {
	if os.Geteuid() != 0 {
		return false
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}
	return true
}

// LastLines is the last n lines of a tool's output, joined with " | "
// (invalid UTF-8 as "?"): what an error says the tool said.
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(b, []byte("?")))), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
