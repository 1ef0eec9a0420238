package setup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/github"
)

// ErrExists is an output file that is already there (and may hold another
// App's credentials): it is not overwritten unless asked.
var ErrExists = errors.New("setup: the output file exists")

// envValue is what a value written unquoted to the environment file may
// hold: systemd's EnvironmentFile and Compose's .env read it as is.
var envValue = regexp.MustCompile(`^[A-Za-z0-9._:/@+=-]+$`)

// Output is where the credentials go: Env, the environment file, and PEM,
// the private key beside it.
type Output struct {
	Env, PEM  string
	Overwrite bool
}

// NewOutput is the output for the environment file path (made absolute);
// the key goes beside it, its name ending .pem instead of .env.
func NewOutput(path string, overwrite bool) (Output, error) {
	if path == "" {
		return Output{}, errors.New("setup: the output file is required (SETUP_OUTPUT)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Output{}, fmt.Errorf("setup: output %q: %w", path, err)
	}
	if strings.ContainsAny(abs, "\"'`$\\#\r\n\t ") {
		return Output{}, fmt.Errorf("setup: output %q: use a path without spaces, quotes, $, # or \\ (it is written into the environment file)", abs)
	}
	pem := strings.TrimSuffix(abs, ".env") + ".pem"
	return Output{Env: abs, PEM: pem, Overwrite: overwrite}, nil
}

// check refuses existing files (unless Overwrite): run before the code is
// converted, since a code converts once.
func (o Output) check() error {
	if o.Overwrite {
		return nil
	}
	for _, p := range []string{o.Env, o.PEM} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s (set SETUP_OVERWRITE=true or --overwrite to replace it, or choose another SETUP_OUTPUT)", ErrExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("setup: output %s: %w", p, err)
		}
	}
	return nil
}

// Extra is what the environment file says besides the App's credentials.
type Extra struct {
	GitHub      GitHub
	PublicURL   string
	WebhookPath string
}

// envFile is the environment file's text: the variables the bot reads
// (cmd/bot, webhook.Settings, github.PrivateKeyFromEnv).
func (o Output) envFile(app *github.ManifestApp, x Extra, now time.Time) (string, error) {
	vars := [][2]string{
		{"GITHUB_APP_ID", strconv.FormatInt(app.ID, 10)},
		{"GITHUB_PRIVATE_KEY_PATH", o.PEM},
		{"GITHUB_WEBHOOK_SECRET", app.WebhookSecret},
		{"GITHUB_CLIENT_ID", app.ClientID},
		{"GITHUB_CLIENT_SECRET", app.ClientSecret},
		{"PUBLIC_URL", x.PublicURL},
	}
	if x.WebhookPath != "" && x.WebhookPath != "/webhook" {
		vars = append(vars, [2]string{"WEBHOOK_PATH", x.WebhookPath})
	}
	if x.GitHub.Enterprise() {
		vars = append(vars, [2]string{"GITHUB_URL", x.GitHub.WebURL}, [2]string{"GITHUB_API_URL", x.GitHub.APIURL})
		if up := x.GitHub.UploadURL(); up != "" {
			vars = append(vars, [2]string{"GITHUB_UPLOAD_URL", up})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# GitHub App %q (%s), id %d, made by bot setup at %s.\n", app.Slug, app.HTMLURL, app.ID, now.UTC().Format(time.RFC3339))
	b.WriteString("# Secrets: keep this file and the .pem mode 0600; never commit them.\n")
	for _, v := range vars {
		// Values come from GitHub's answer: one that could end the line
		// or be read as shell would inject settings.
		if !envValue.MatchString(v[1]) {
			return "", fmt.Errorf("setup: %s from GitHub's answer has characters an environment file cannot hold as is", v[0])
		}
		fmt.Fprintf(&b, "%s=%s\n", v[0], v[1])
	}
	return b.String(), nil
}

// write writes the key, then the environment file, each 0600 and whole or
// not at all (a temporary file in the same directory, synced, then linked
// into place: the link fails on an existing file, or renamed over it
// with Overwrite). A failed environment file removes a key it wrote.
func (o Output) write(app *github.ManifestApp, x Extra, now time.Time) error {
	env, err := o.envFile(app, x, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Env), 0o700); err != nil {
		return fmt.Errorf("setup: output directory: %w", err)
	}
	if err := writeFile(o.PEM, []byte(app.PEM), o.Overwrite); err != nil {
		return err
	}
	if err := writeFile(o.Env, []byte(env), o.Overwrite); err != nil {
		if !o.Overwrite {
			_ = os.Remove(o.PEM) // ours: the link above made it
		}
		return err
	}
	return nil
}

func writeFile(path string, data []byte, overwrite bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*") // 0600
	if err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	name := tmp.Name()
	defer func() { _ = os.Remove(name) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if overwrite {
		err = os.Rename(name, path)
	} else {
		err = os.Link(name, path)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("setup: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the new name, durably
		_ = d.Close()
	}
	return nil
}
