package iso

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// records are what the build left in /etc/linux-builder for this step,
// validated: they come from an image a stranger's scripts could rewrite.
type records struct {
	kernel, initrd  string // /boot/<name>
	initramfs, init string
	cmdline         string
	hostname        string
}

var (
	bootName     = regexp.MustCompile(`^/boot/[A-Za-z0-9._+-]{1,128}$`)
	cmdlineParam = regexp.MustCompile(`^[A-Za-z0-9._,:=/+@-]{1,256}$`)
	hostLabel    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	initramfses  = map[string]bool{"initramfs-tools": true, "dracut": true, "mkinitfs": true}
	inits        = map[string]bool{"systemd": true, "openrc": true, "runit": true, "s6": true}
)

// readRecords reads and validates boot-files, kernel-cmdline and hostname.
func readRecords(t tree) (*records, error) {
	const where = "/" + recordDir + "/"
	raw, err := t.record(recordDir+"/boot-files", true)
	if err != nil {
		return nil, fmt.Errorf("the image has no usable boot-files record (was it rendered by Linux Builder?): %w", err)
	}
	rec := &records{hostname: "linux-builder"}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(raw, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || seen[k] {
			return nil, fmt.Errorf("%sboot-files line %d: want one KEY=VALUE per key, got %q", where, i+1, clip(line))
		}
		seen[k] = true
		switch k {
		case "KERNEL", "INITRD":
			if !bootName.MatchString(v) || strings.Trim(path.Base(v), ".") == "" {
				return nil, fmt.Errorf("%sboot-files %s=%q: want /boot/<file name>", where, k, clip(v))
			}
			if k == "KERNEL" {
				rec.kernel = v
			} else {
				rec.initrd = v
			}
		case "INITRAMFS":
			if !initramfses[v] {
				return nil, fmt.Errorf("%sboot-files INITRAMFS=%q: not an initramfs generator Linux Builder uses", where, clip(v))
			}
			rec.initramfs = v
		case "INIT":
			if !inits[v] {
				return nil, fmt.Errorf("%sboot-files INIT=%q: not an init system Linux Builder supports", where, clip(v))
			}
			rec.init = v
		default:
			return nil, fmt.Errorf("%sboot-files line %d: unknown key %q", where, i+1, clip(k))
		}
	}
	for _, k := range []string{"KERNEL", "INITRD", "INITRAMFS", "INIT"} {
		if !seen[k] {
			return nil, fmt.Errorf("%sboot-files has no %s", where, k)
		}
	}
	if raw, err := t.record(recordDir+"/kernel-cmdline", false); err != nil {
		return nil, err
	} else if rec.cmdline, err = validCmdline(raw); err != nil {
		return nil, fmt.Errorf("%skernel-cmdline: %w", where, err)
	}
	if raw, err := t.record(recordDir+"/hostname", false); err != nil {
		return nil, err
	} else if h := strings.TrimSuffix(raw, "\n"); h != "" {
		if !validHostname(h) {
			return nil, fmt.Errorf("%shostname %q: not a host name (RFC 1123 labels)", where, clip(h))
		}
		rec.hostname = h
	}
	return rec, nil
}

// validCmdline accepts one line of kernel parameters from a safe set of
// characters: the line is pasted into grub.cfg, where quotes, $, ;, {, }
// and new lines would be GRUB script.
func validCmdline(raw string) (string, error) {
	line := strings.TrimSuffix(raw, "\n")
	if strings.ContainsAny(line, "\n\r") {
		return "", fmt.Errorf("more than one line")
	}
	params := strings.Fields(line)
	if len(params) > 64 {
		return "", fmt.Errorf("%d parameters; at most 64", len(params))
	}
	for _, p := range params {
		if !cmdlineParam.MatchString(p) {
			return "", fmt.Errorf("parameter %q: only letters, digits and . _ , : = / + @ - are allowed", clip(p))
		}
		if spec.ReservedKernelParam(p) {
			return "", fmt.Errorf("parameter %q is reserved for Linux Builder (its boot test's, or the installer's lb.install*)", clip(p))
		}
	}
	return strings.Join(params, " "), nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if !hostLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// clip shortens hostile text quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// liveFiles are the files the ISO owns in the live system.
func (r *records) liveFiles(marker string) ([]file, error) {
	fs := []file{
		{name: "etc/machine-id", mode: 0o444, typ: tar.TypeReg},
		{name: "etc/hostname", mode: 0o644, typ: tar.TypeReg, body: r.hostname + "\n"},
		{name: "etc/hosts", mode: 0o644, typ: tar.TypeReg,
			body: "127.0.0.1\tlocalhost\n127.0.1.1\t" + r.hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	}
	return r.markerFiles(fs, marker)
}

// record is a captured file under /etc/linux-builder, its name resolved
// inside the image; required says whether its absence is an error.
func (t tree) record(name string, required bool) (string, error) {
	e, resolved, err := t.resolve(name)
	if !required && errors.Is(err, errNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("/%s: %w", name, err)
	}
	switch {
	case !under(resolved, recordDir):
		return "", fmt.Errorf("/%s: resolves to /%s, outside /%s", name, resolved, recordDir)
	case e.tooBig:
		return "", fmt.Errorf("/%s: larger than the limit for a record", name)
	case e.record == nil && e.size > 0:
		return "", fmt.Errorf("/%s: not a captured regular file", name)
	}
	return string(e.record), nil
}

// bootFile is the host path of the captured copy of the image's file
// name (a /boot/<name> record value), resolved inside the image.
func (t tree) bootFile(name string, max int64) (string, error) {
	return t.capturedFile(name, "boot", max)
}

// capturedFile is the host path of the captured copy of the image's file
// name, resolved inside the image, which must resolve inside dir.
func (t tree) capturedFile(name, dir string, max int64) (string, error) {
	e, resolved, err := t.resolve(strings.TrimPrefix(name, "/"))
	if err != nil {
		return "", err
	}
	switch {
	case !under(resolved, dir):
		return "", fmt.Errorf("resolves to /%s, outside /%s", resolved, dir)
	case e.tooBig:
		return "", fmt.Errorf("/%s is %d bytes: over the limit of %d for a boot file (or of all of /boot)", resolved, e.size, max)
	case e.size == 0 || e.capture == "":
		return "", fmt.Errorf("/%s is empty, or not one of the files captured", resolved)
	}
	return e.capture, nil
}

var errNotExist = errors.New("does not exist in the image")

// maxLinks is how many symbolic links one resolution may follow (Linux's
// limit is 40).
const maxLinks = 40

// resolve finds name in the image's own namespace, following symbolic
// links (absolute ones from the image's root, ".." never above it) and
// hard links, as the kernel would inside the image: no host path is ever
// consulted. The result is a regular file; a missing name is errNotExist.
func (t tree) resolve(name string) (e *entry, resolved string, err error) {
	comps := strings.Split(name, "/")
	cur := ""
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		e = t.entries[next]
		for hops := 0; e != nil && e.typ == tar.TypeLink; hops++ {
			if hops > maxLinks {
				return nil, next, fmt.Errorf("too many hard links")
			}
			next, e = e.link, t.entries[e.link]
		}
		switch {
		case e == nil:
			return nil, next, fmt.Errorf("/%s: %w", next, errNotExist)
		case e.typ == tar.TypeSymlink:
			if links++; links > maxLinks {
				return nil, next, fmt.Errorf("more than %d symbolic links", maxLinks)
			}
			if strings.HasPrefix(e.link, "/") {
				cur = ""
			}
			comps = append(strings.Split(e.link, "/"), comps...)
		case e.typ == tar.TypeDir:
			cur = next
		case len(comps) > 0:
			return nil, next, fmt.Errorf("/%s is not a directory", next)
		default:
			cur = next
		}
	}
	if e == nil || e.typ != tar.TypeReg {
		return nil, cur, fmt.Errorf("/%s is not a regular file", cur)
	}
	return e, cur, nil
}
