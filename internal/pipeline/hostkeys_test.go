package pipeline_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipelinestore"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// On the real engine, the spec images of minimal-debian (systemd) and of
// Debian specs on runit and s6, all with SSH on (Debian's openssh-server
// makes host keys when it is installed) and a postInstall script that
// makes them again, have no SSH host key, and a container of each makes
// its own the way a machine would at boot:
//
//   - systemd: the linux-builder-ssh-keygen unit is enabled and ordered
//     before ssh.service and ssh.socket; sshd's own check (ssh.service's
//     ExecStartPre) fails until the unit's command made the ECDSA and
//     Ed25519 keys, and then passes; the -rsa unit, after ssh.service,
//     makes the 3072-bit RSA key;
//   - runit: Debian's own ssh run script (through its invoke-run
//     interpreter, as runsv starts it) makes the keys, passes its sshd -t
//     check and starts sshd;
//   - s6: the run script setup.sh wrote makes the keys and starts sshd,
//     from an empty /run as at boot.
//
// Two containers of the same image make different keys, and no layer of
// the image (docker save's, as a push or the saved artifact carries them)
// has a key.
func TestSpecImageHasNoSSHHostKeys(t *testing.T) {
	eng := realEngine(t)
	db := storetest.SQLite(t, nil)
	ctx := context.Background()
	r, err := render.New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const remake = "postInstall:\n  scripts:\n    - name: keys.sh\n      run: ssh-keygen -A && test -s /etc/ssh/ssh_host_ed25519_key\n"
	for _, tc := range []struct {
		init, spec string
		// script runs in a container of the image; want are its answers.
		script string
		want   []string
	}{
		{init: "systemd", spec: string(base) + remake,
			// The units' commands run as systemd would run them: their
			// quotes parsed (eval), $$ a literal $.
			script: "echo enabled=$(systemctl is-enabled linux-builder-ssh-keygen.service linux-builder-ssh-keygen-rsa.service | tr '\\n' ' ')\n" +
				"echo before=$(sed -n 's/^Before=//p' /etc/systemd/system/linux-builder-ssh-keygen.service)\n" +
				"echo rsa-after=$(sed -n 's/^After=//p' /etc/systemd/system/linux-builder-ssh-keygen-rsa.service)\n" +
				"mkdir -p /run/sshd\n" +
				"/usr/sbin/sshd -t >/dev/null 2>&1; echo sshd-t-without-keys=$?\n" +
				`eval "$(sed -n 's/^ExecStart=//p' /etc/systemd/system/linux-builder-ssh-keygen.service | sed 's/[$][$]/$/g')"; echo unit=$?` + "\n" +
				"/usr/sbin/sshd -t; echo sshd-t-with-keys=$?\n" +
				"echo keys-before-rsa=$(ls /etc/ssh | grep -c '^ssh_host_.*_key$')\n" +
				`eval "$(sed -n 's/^ExecStart=//p' /etc/systemd/system/linux-builder-ssh-keygen-rsa.service | sed 's/[$][$]/$/g')"; echo rsa-unit=$?` + "\n" +
				"ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub | cut -d' ' -f1\n",
			want: []string{"\nenabled=enabled enabled\n", "\nbefore=ssh.service ssh.socket ", "\nrsa-after=local-fs.target ssh.service\n",
				"\nsshd-t-without-keys=1\n", "\nunit=0\n", "\nsshd-t-with-keys=0\n", "\nkeys-before-rsa=2\n", "\nrsa-unit=0\n", "\n3072\n"}},
		{init: "runit", spec: "name: debian-runit-ssh\nbase: debian\nrelease: bookworm\ninit: runit\n" +
			"securityFeatures:\n  ssh: {enable: true}\n" + remake,
			script: "echo line2=$(sed -n 2p /etc/sv/ssh/run)\n" +
				"echo enabled=$(readlink /etc/service/ssh)\n" +
				"rm -rf /run/sshd\n" + // /run is empty at boot
				"cd /etc/sv/ssh && timeout 20 ./run; echo run-ended=$?\n",
			want: []string{"\nline2=ssh-keygen -A\n", "\nenabled=/etc/sv/ssh\n", "Server listening on", "\nrun-ended=124\n"}},
		{init: "s6", spec: "name: debian-s6-ssh\nbase: debian\nrelease: bookworm\ninit: s6\n" +
			"securityFeatures:\n  ssh: {enable: true}\n" + remake,
			script: "echo line2=$(sed -n 2p /etc/s6/sv/ssh/run)\n" +
				"echo enabled=$(readlink /etc/s6/scandir/ssh)\n" +
				"rm -rf /run/sshd\n" + // /run is empty at boot
				"cd /etc/s6/sv/ssh && timeout 20 ./run; echo run-ended=$?\n",
			want: []string{"\nline2=ssh-keygen -A\n", "\nenabled=/etc/s6/sv/ssh\n", "Server listening on", "\nrun-ended=124\n"}},
	} {
		t.Run(tc.init, func(t *testing.T) {
			watch := &logWatch{}
			p, err := pipeline.New(pipeline.Config{
				Store: pipelinestore.Store{DB: db}, Renderer: r.ForPipeline(render.Options{}), Builder: eng,
				Reporters: []pipeline.Reporter{watch}, ArtifactsDir: filepath.Join(t.TempDir(), "artifacts"),
				ImageRepo: testRepo, KeepImage: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			id := createRun(t, db, "host-keys-"+tc.init+".yaml", []byte(tc.spec))
			if err := p.Run(ctx, id); err != nil {
				t.Fatal(err)
			}
			image := fmt.Sprintf("%s:%d", testRepo, id)
			t.Cleanup(func() { _ = eng.Remove(context.Background(), image) })
			if rn, _ := db.Run(ctx, id); rn.Step != "COMPLETE" {
				watch.mu.Lock()
				defer watch.mu.Unlock()
				t.Fatalf("the build ended %s: %s\n%s", rn.Step, rn.FailureReason, strings.Join(watch.lines, "\n"))
			}
			// One stream, answers on lines of their own (docker run's
			// stdout and stderr interleave at random).
			script := "exec 2>&1\necho keys-in-image=$(ls /etc/ssh | grep -c '^ssh_host_')\n" + tc.script +
				"echo keys-made=$(ls /etc/ssh | grep -c '^ssh_host_.*_key$')\ncat /etc/ssh/ssh_host_ed25519_key.pub\n"
			run := func() string {
				t.Helper()
				out, err := exec.Command("docker", "run", "--rm", "--pull", "never", "--network", "none",
					"--entrypoint", "/bin/sh", image, "-c", script).CombinedOutput()
				if err != nil {
					t.Fatalf("docker run: %v\n%s", err, out)
				}
				return "\n" + string(out)
			}
			// Pushed or saved, the image carries every layer: none has a
			// key, not only the flattened view.
			if keys := layerHostKeys(t, image); len(keys) > 0 {
				t.Errorf("the image's layers hold SSH host keys: %v", keys)
			}
			first := run()
			t.Logf("a container of the image:%s", first)
			for _, want := range append([]string{"\nkeys-in-image=0\n", "\nkeys-made=3\n"}, tc.want...) {
				if !strings.Contains(first, want) {
					t.Errorf("want %q in the container's answers", strings.TrimSpace(want))
				}
			}
			if second := run(); publicKey(second) == "" || publicKey(second) == publicKey(first) {
				t.Errorf("two containers of the image have the same host key %q", publicKey(first))
			}
		})
	}
}

// layerHostKeys lists the SSH host keys in the layers of image, as docker
// save writes them: "<layer>: <name>" (whiteouts, which only hide a lower
// layer's file, are not keys).
func layerHostKeys(t *testing.T, image string) []string {
	t.Helper()
	cmd := exec.Command("docker", "save", image)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	layers := 0
	outer := tar.NewReader(out)
	for {
		hdr, err := outer.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("docker save %s: %v", image, err)
		}
		if !strings.HasSuffix(hdr.Name, "layer.tar") {
			continue
		}
		layers++
		inner := tar.NewReader(outer)
		for {
			h, err := inner.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("docker save %s: layer %s: %v", image, hdr.Name, err)
			}
			if name := strings.TrimPrefix(h.Name, "./"); strings.HasPrefix(name, "etc/ssh/ssh_host_") {
				keys = append(keys, hdr.Name+": "+name)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker save %s: %v\n%s", image, err, stderr.String())
	}
	if layers < 3 {
		t.Fatalf("docker save %s: %d layers", image, layers)
	}
	return keys
}

// publicKey is the ed25519 public key a container printed.
func publicKey(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ssh-ed25519 ") {
			return strings.Fields(l)[1]
		}
	}
	return ""
}
