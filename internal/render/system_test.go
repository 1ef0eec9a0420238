package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// renderSource renders a spec given as text.
func renderSource(t *testing.T, r *Renderer, src string) *Context {
	t.Helper()
	doc, diags := spec.Parse("linux-build.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("spec does not validate:\n%s", diags.Error())
	}
	c, err := r.Render(doc, diags, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Specs that differ only in what is theirs (name, packages, postInstall)
// share the system image; what the system is made of (the kernel, the
// documentation setting) makes another. The Dockerfile starts FROM it and
// system/ is its whole build context.
func TestSpecsShareTheSystemImage(t *testing.T) {
	r := newRenderer(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "minimal-debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := string(src)
	a := renderSource(t, r, base)
	if !strings.HasPrefix(a.SystemTag, SystemImageRepo+":") || len(a.SystemTag) != len(SystemImageRepo)+1+24 {
		t.Fatalf("system tag %q", a.SystemTag)
	}
	df := string(a.File("Dockerfile").Data)
	if !strings.Contains(df, "\nFROM "+a.SystemTag+"\n") || strings.Contains(df, "FROM debian") {
		t.Errorf("the Dockerfile does not start FROM the system image:\n%s", df)
	}
	if !strings.Contains(df, "docker build -t "+a.SystemTag+" system/") {
		t.Errorf("the Dockerfile does not say how to build the system image by hand:\n%s", df)
	}
	sys := a.File("system/Dockerfile")
	if sys == nil || !bytes.Contains(sys.Data, []byte("FROM debian:bookworm")) || !bytes.Contains(sys.Data, []byte("'linux-image-amd64'")) {
		t.Fatalf("system/Dockerfile:\n%s", sys.Data)
	}
	if a.System == nil || a.System.File("Dockerfile") == nil || !bytes.Equal(a.System.File("Dockerfile").Data, sys.Data) {
		t.Fatal("the system context is not system/ of the spec's context")
	}
	if bytes.Contains(a.File("Dockerfile").Data, []byte("'linux-image-amd64'")) {
		t.Error("the spec's Dockerfile installs the kernel again")
	}

	other := strings.Replace(base, "name: minimal-debian", "name: other", 1)
	other = strings.Replace(other, "  - less\n", "  - less\n  - htop\n", 1)
	other += "postInstall:\n  scripts:\n    - name: motd.sh\n      run: echo hi > /etc/motd\n"
	b := renderSource(t, r, other)
	if b.Hash == a.Hash {
		t.Fatal("the variant renders the same context")
	}
	if b.SystemTag != a.SystemTag || b.System.Hash != a.System.Hash {
		t.Errorf("a spec with other packages and scripts has another system image: %s vs %s", b.SystemTag, a.SystemTag)
	}

	for name, edit := range map[string]string{
		"documentation": base + "defaults:\n  documentation: true\n",
		"kernel":        strings.Replace(base, "version: lts", "version: latest", 1),
		"release":       strings.Replace(base, "release: bookworm", "release: trixie", 1),
	} {
		c := renderSource(t, r, edit)
		if c.SystemTag == a.SystemTag {
			t.Errorf("%s: the system image is the same", name)
		}
	}
}

// Debian's system image installs with dpkg's unsafe I/O and without
// documentation; the spec's last RUN takes the unsafe I/O setting and the
// package lists out, and its package layer uses the kept lists, refreshing
// them only when an install fails. documentation: true keeps the docs.
func TestDebianInstallSpeedups(t *testing.T) {
	r := newRenderer(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "minimal-debian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := renderSource(t, r, string(src))
	unsafe := c.File("system/rootfs/etc/dpkg/dpkg.cfg.d/90linux-builder-unsafe-io")
	if unsafe == nil || !bytes.Contains(unsafe.Data, []byte("\nforce-unsafe-io\n")) {
		t.Fatal("no dpkg unsafe-io setting in the system image")
	}
	nodoc := c.File("system/rootfs/etc/dpkg/dpkg.cfg.d/90linux-builder-nodoc")
	if nodoc == nil || !bytes.Contains(nodoc.Data, []byte("path-exclude=/usr/share/man/*")) ||
		!bytes.Contains(nodoc.Data, []byte("path-include=/usr/share/doc/*/copyright")) {
		t.Fatalf("dpkg nodoc setting: %v", nodoc)
	}
	sys := string(c.File("system/Dockerfile").Data)
	if !strings.Contains(sys, "COPY rootfs/ /") || !strings.HasSuffix(strings.TrimSpace(sys), "&& apt-get clean && apt-cache gencaches && rm -f /var/cache/apt/srcpkgcache.bin") {
		t.Errorf("the system layer does not keep its package lists:\n%s", sys)
	}
	// The initramfs is built once, after the install (not by the kernel's
	// hook and again by live-boot's trigger), and nothing keeps INITRD.
	install := strings.Index(sys, "INITRD=No apt-get install -y")
	once := strings.Index(sys, `update-initramfs -c -k "$v"`)
	if install < 0 || once < install || once > strings.LastIndex(sys, "apt-get clean") || strings.Count(sys, "INITRD") != 2 {
		t.Errorf("the system layer does not build the initramfs once, after the install:\n%s", sys)
	}
	noLang := c.File("system/rootfs/etc/apt/apt.conf.d/90linux-builder-no-translations")
	if noLang == nil || !bytes.Contains(noLang.Data, []byte("\nAcquire::Languages \"none\";\n")) {
		t.Fatalf("apt no-translations setting: %v", noLang)
	}
	df := string(c.File("Dockerfile").Data)
	runs := regexpRuns(df)
	last := runs[len(runs)-1]
	if !strings.Contains(last, "rm -f /etc/dpkg/dpkg.cfg.d/90linux-builder-unsafe-io /etc/apt/apt.conf.d/90linux-builder-no-translations /var/cache/apt/*.bin") || !strings.Contains(last, "rm -rf /var/lib/apt/lists/*") {
		t.Errorf("the last RUN does not remove the build-only settings: %q", last)
	}
	if !strings.Contains(runs[0], "apt-get install -y --no-install-recommends \"$@\" \\\n      || { apt-get update && apt-get install") ||
		strings.HasPrefix(strings.TrimPrefix(runs[0], "RUN "), "apt-get update") {
		t.Errorf("the package layer refreshes the index before it needs to:\n%s", runs[0])
	}

	docs := renderSource(t, r, string(src)+"defaults:\n  documentation: true\n")
	if docs.File("system/rootfs/etc/dpkg/dpkg.cfg.d/90linux-builder-nodoc") != nil {
		t.Error("documentation: true still leaves the documentation out")
	}
	if docs.File("system/rootfs/etc/dpkg/dpkg.cfg.d/90linux-builder-unsafe-io") == nil {
		t.Error("documentation: true loses unsafe I/O")
	}
}

// regexpRuns returns the Dockerfile's RUN instructions, continuation lines
// included, in order.
func regexpRuns(df string) []string {
	var runs []string
	cur := ""
	for _, l := range strings.Split(df, "\n") {
		switch {
		case cur != "":
			cur += "\n" + l
		case strings.HasPrefix(l, "RUN "):
			cur = l
		default:
			continue
		}
		if !strings.HasSuffix(l, "\\") {
			runs = append(runs, cur)
			cur = ""
		}
	}
	return runs
}
