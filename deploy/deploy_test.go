// Package deploy holds the deployment files (systemd units, the compose
// environment, the Dockerfile's dependency list); its tests keep them true
// to the code. scripts/image-check.sh builds and runs the image itself.
package deploy

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite go-deps.txt")

// TestGoDepsIsCurrent keeps go-deps.txt, the packages the Dockerfile
// compiles before copying the sources, equal to what the two programs
// import: a stale list would compile packages nobody uses, or fail.
func TestGoDepsIsCurrent(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/bot", "./cmd/webhook")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var want []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/linux-builder/linux-builder") {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	raw, err := os.ReadFile("go-deps.txt")
	if err != nil {
		t.Fatal(err)
	}
	var header, got []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.HasPrefix(l, "#") {
			header = append(header, l)
		} else if l != "" {
			got = append(got, l)
		}
	}
	if *update {
		text := strings.Join(append(header, want...), "\n") + "\n"
		if err := os.WriteFile("go-deps.txt", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("deploy/go-deps.txt is stale (%d packages, want %d): go test ./deploy -run TestGoDepsIsCurrent -update", len(got), len(want))
	}
}

// composeFile is the part of compose.yaml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     []string          `yaml:"command"`
		User        string            `yaml:"user"`
		NetworkMode string            `yaml:"network_mode"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		CapAdd      []string          `yaml:"cap_add"`
		SecurityOpt []string          `yaml:"security_opt"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestCompose checks compose.yaml's shape where `docker compose config`
// is not installed: the services, who holds the Docker socket and the
// private key, the receiver's confinement, and that every variable it
// requires is in the example environment file.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"postgres", "migrate", "receiver", "worker", "store"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("compose.yaml: no service %q", name)
		}
	}
	for name, s := range c.Services {
		if !regexp.MustCompile(`^\$\{[A-Z0-9_]+:-[^}]+\}$`).MatchString(s.Image) {
			t.Errorf("service %s: image %q: want ${VARIABLE:-default}, as no registry is assumed", name, s.Image)
		}
		socket := slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.Contains(v, "docker.sock") })
		if socket != (name == "worker") {
			t.Errorf("service %s: Docker socket mounted = %v; only the worker may hold it", name, socket)
		}
		_, key := s.Environment["GITHUB_PRIVATE_KEY"]
		if key != (name == "worker") {
			t.Errorf("service %s: private key = %v; only the worker may hold it", name, key)
		}
	}
	r := c.Services["receiver"]
	if !slices.Equal(r.Entrypoint, []string{"linux-builder-webhook"}) || r.User != "" || !r.ReadOnly ||
		!slices.Equal(r.CapDrop, []string{"ALL"}) || !slices.Contains(r.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("receiver: want linux-builder-webhook as the image's non-root user, read-only, no capabilities, no-new-privileges; got %+v", r)
	}
	if r.Environment["GITHUB_WEBHOOK_SECRET"] == "" || r.Environment["DATABASE_URL"] == "" {
		t.Errorf("receiver: want GITHUB_WEBHOOK_SECRET and DATABASE_URL")
	}
	w := c.Services["worker"]
	if len(w.Command) == 0 || w.Command[0] != "worker" || w.NetworkMode != "host" ||
		!slices.Equal(w.CapDrop, []string{"ALL"}) || !slices.Equal(w.CapAdd, []string{"NET_ADMIN", "NET_RAW"}) {
		t.Errorf("worker: want `bot worker` on the host's network with NET_ADMIN and NET_RAW only; got %+v", w)
	}
	for _, k := range []string{"ARTIFACT_STORE", "DATABASE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATA_DIR"} {
		if w.Environment[k] == "" {
			t.Errorf("worker: no %s", k)
		}
	}
	env, err := os.ReadFile("compose.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`).FindAllSubmatch(raw, -1) {
		if !bytes.Contains(env, append(append([]byte("\n"), m[1]...), '=')) {
			t.Errorf("compose.yaml requires %s; deploy/compose.env.example does not list it", m[1])
		}
	}
}
