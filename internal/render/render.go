package render

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/linux-builder/linux-builder/internal/spec"
)

var (
	reUser     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	reTimezone = regexp.MustCompile(`^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$`)
	reImage    = regexp.MustCompile(`^[a-z0-9][a-z0-9._\-/:@]*$`)
)

// File is one file of a build context.
type File struct {
	Path string // slash-separated, relative to the context root
	Mode fs.FileMode
	Data []byte
}

// Context is a rendered build context.
type Context struct {
	Files []File // sorted by Path
	// Hash is the sha256 of every file's path, mode and content: equal
	// hashes mean byte-identical contexts.
	Hash string
	// SpecHash identifies the normalised spec and options; it is also in
	// the image's io.linux-builder.spec-hash label.
	SpecHash string
	// Image is the distribution's base image the system image starts
	// FROM.
	Image string
	// SystemTag names the shared system image the Dockerfile starts FROM;
	// System is its build context (system/ of this one, as its root).
	SystemTag string
	System    *Context
	// Warnings are rendering findings (packages without a mapping,
	// features not packaged for the distribution), positioned in the spec.
	Warnings spec.Diagnostics
}

// File returns the file at path, or nil.
func (c *Context) File(p string) *File {
	i, ok := slices.BinarySearchFunc(c.Files, p, func(f File, p string) int { return strings.Compare(f.Path, p) })
	if !ok {
		return nil
	}
	return &c.Files[i]
}

// Renderer renders specs. Create one with New; it is safe for concurrent use.
type Renderer struct {
	tmpl     *template.Template
	packages packageMap
}

// New parses the templates and the package map from fsys (normally
// linuxbuilder.Templates). A broken template is an error here, at start-up,
// not at the first build.
func New(fsys fs.FS) (*Renderer, error) {
	pm, err := loadPackageMap(fsys)
	if err != nil {
		return nil, err
	}
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").ParseFS(fsys, "templates/context/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	return &Renderer{tmpl: t, packages: pm}, nil
}

// Render renders the build context for doc, which must have decoded without
// errors (spec.Parse). It fails on specs with errors rather than render a
// system the rules rejected.
func (r *Renderer) Render(doc *spec.Document, diags spec.Diagnostics, opts Options) (*Context, error) {
	if doc == nil || doc.Spec == nil || diags.HasErrors() {
		return nil, fmt.Errorf("render: the spec has errors:\n%s", diags.Error())
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("render options: %w", err)
	}
	m, warns, err := r.buildModel(doc, opts)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", doc.File, err)
	}
	files, err := r.files(m)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", doc.File, err)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return nil, fmt.Errorf("render %s: two files at %s", doc.File, files[i].Path)
		}
	}
	warns.Sort()
	sys := subContext(files, systemDir)
	return &Context{
		Files: files, Hash: contextHash(files), SpecHash: m.SpecHash, Image: m.Image, Warnings: warns,
		SystemTag: m.SystemTag, System: &Context{Files: sys, Hash: contextHash(sys), Image: m.Image},
	}, nil
}

// subContext is the files under dir, with dir taken off their paths.
func subContext(files []File, dir string) []File {
	var out []File
	for _, f := range files {
		if rest, ok := strings.CutPrefix(f.Path, dir); ok {
			f.Path = rest
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func contextHash(files []File) string {
	h := sha256.New()
	for _, f := range files {
		h.Write(fmt.Appendf(nil, "%s\x00%o\x00%d\x00", f.Path, f.Mode, len(f.Data)))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteDir writes the context under dir, which must not exist or be empty,
// so a stale file from an earlier render can never leak into a build.
func (c *Context) WriteDir(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("write context: %s is not empty", dir)
	}
	for _, f := range c.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write context: %w", err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write context: %w", err)
		}
		// WriteFile's mode is filtered by the umask; the context's modes
		// are part of its content.
		if err := os.Chmod(p, f.Mode); err != nil {
			return fmt.Errorf("write context: %w", err)
		}
	}
	return nil
}

// WriteTar writes the context as a tar stream (what the Docker API takes),
// with fixed owners and times so equal contexts give equal streams.
func (c *Context) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	epoch := time.Unix(0, 0).UTC()
	for _, f := range c.Files {
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			if dirs[d] {
				break
			}
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	slices.Sort(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("write context tar: %w", err)
		}
	}
	for _, f := range c.Files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: int64(f.Mode), Size: int64(len(f.Data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write context tar: %w", err)
		}
		if _, err := io.Copy(tw, bytes.NewReader(f.Data)); err != nil {
			return fmt.Errorf("write context tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write context tar: %w", err)
	}
	return nil
}
