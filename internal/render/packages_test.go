package render

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/linux-builder/linux-builder/internal/spec"
)

func renderYAML(t *testing.T, src string, opts Options) *Context {
	t.Helper()
	doc, diags := spec.Parse("p.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	c, err := newRenderer(t).Render(doc, diags, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPackageMapping(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // must be in the Dockerfile
		absent     []string // must not be
		warnings   []string // "line:col path substring"
	}{
		{"common name per distro", "base: fedora\npackages: [docker, vim, build-essential]",
			[]string{"'moby-engine'", "'vim-enhanced'", "'gcc-c++'"}, []string{"'docker'", "'build-essential'"}, nil},
		{"gentoo atoms", "base: gentoo\npackages: [git, nginx]",
			[]string{"'dev-vcs/git'", "'www-servers/nginx'"}, nil, nil},
		{"unmapped name passes through with a warning", "base: debian\npackages: [vim, foo-tool]",
			[]string{"'foo-tool'"}, nil, []string{"2:17 packages[1] no cross-distribution mapping"}},
		{"not packaged: left out with a warning", "base: debian\nservices:\n  databases: [mongodb]",
			nil, []string{"mongodb"}, []string{"3:15 services.databases[0] not packaged for debian"}},
		{"excluded packages stay out even when a feature adds them", "base: debian\npackages: {fail2ban: false, htop: true}\nsecurityFeatures: {ssh: {enable: true, fail2ban: true}}",
			[]string{"'htop'"}, []string{"'fail2ban'", "jail.local"}, []string{"3:40 securityFeatures.ssh.fail2ban excluded by packages"}},
		{"categorized warning path", "base: arch\npackages:\n  utils: [htop, zzz-unknown]",
			[]string{"'zzz-unknown'"}, nil, []string{"3:17 packages.utils[1] no cross-distribution mapping"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := renderYAML(t, tc.yaml, Options{})
			// The system image's Dockerfile installs the distribution's
			// own packages, the spec's installs the rest.
			df := string(c.File("system/Dockerfile").Data) + string(c.File("Dockerfile").Data)
			for _, w := range tc.want {
				if !strings.Contains(df, w) {
					t.Errorf("Dockerfile lacks %s", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(df, a) {
					t.Errorf("Dockerfile has %s", a)
				}
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.String())
			}
			if len(got) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", got, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				pos, rest, _ := strings.Cut(w, " ")
				path, text, _ := strings.Cut(rest, " ")
				if !strings.Contains(got[i], "p.yaml:"+pos+":") || !strings.Contains(got[i], path+":") || !strings.Contains(got[i], text) {
					t.Errorf("warning %q, want %q", got[i], w)
				}
			}
		})
	}
}

func TestEveryDistroHasAnEntry(t *testing.T) {
	for _, b := range spec.Bases {
		d, err := distroFor(b)
		if err != nil || d.install == "" || len(d.kernel(&spec.Spec{Base: b})) == 0 || d.initramfs == "" {
			t.Errorf("%s: incomplete distribution entry (%v)", b, err)
		}
		for init := range initsOf(b) {
			if _, ok := d.initPkgs[init]; !ok && b != spec.BaseGentoo {
				t.Errorf("%s: init %s is allowed by the rules but has no packages", b, init)
			}
		}
	}
}

// initsOf lists the init systems the spec rules accept on b.
func initsOf(b spec.Base) map[spec.InitSystem]bool {
	out := map[spec.InitSystem]bool{}
	for _, init := range []spec.InitSystem{spec.InitSystemd, spec.InitOpenRC, spec.InitRunit, spec.InitS6} {
		doc, diags := spec.Parse("x.yaml", []byte("base: "+string(b)+"\ninit: "+string(init)+"\n"))
		if doc.Spec != nil && !diags.HasErrors() {
			out[init] = true
		}
	}
	return out
}

func TestBadPackageMapIsAnError(t *testing.T) {
	for name, data := range map[string]string{
		"unknown distro": "git: {plan9: [git]}\n",
		"bad name":       "git: {debian: [\"git; rm\"]}\n",
		"not a map":      "- git\n",
	} {
		_, err := New(fstest.MapFS{"templates/packages.yaml": {Data: []byte(data)}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	r := newRenderer(t)
	doc, diags := spec.Parse("x.yaml", []byte("base: alpine\ninit: systemd\n"))
	if _, err := r.Render(doc, diags, Options{}); err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("rendered a spec with errors: %v", err)
	}
	doc, diags = spec.Parse("x.yaml", []byte("base: debian\n"))
	for _, opts := range []Options{
		{User: User{Name: "Root User"}},
		{User: User{Name: "a'b"}},
		{Timezone: "../../etc"},
		{Images: map[spec.Base]string{spec.BaseDebian: "debian; rm -rf /"}},
	} {
		if _, err := r.Render(doc, diags, opts); err == nil {
			t.Errorf("options %+v accepted", opts)
		}
	}
}

func TestImageOverrideAndUser(t *testing.T) {
	c := renderYAML(t, "base: debian\n", Options{Images: map[spec.Base]string{spec.BaseDebian: "registry.local/debian:bookworm"}, User: User{Name: "alice"}})
	if c.Image != "registry.local/debian:bookworm" || !strings.Contains(string(c.File("system/Dockerfile").Data), "FROM registry.local/debian:bookworm\n") {
		t.Fatalf("image override not used: %s", c.Image)
	}
	setup := string(c.File("rootfs/usr/local/lib/linux-builder/setup.sh").Data)
	if !strings.Contains(setup, "add_user 'alice' 'bash' 'sudo'\n") || !strings.Contains(setup, "--autologin %s") {
		t.Fatal("console user not configured")
	}
	if !slices.ContainsFunc(c.Files, func(f File) bool { return f.Path == "rootfs/etc/sudoers.d/10-linux-builder" && f.Mode == 0o440 }) {
		t.Fatal("sudoers drop-in missing or with the wrong mode")
	}
}
