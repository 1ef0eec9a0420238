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
	"context"
	"os"
	"os/exec"
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

// Command is exec.CommandContext with Env() as the environment. Callers
// may append to cmd.Env a variable the tool needs, never a secret.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = Env()
	return cmd
}
