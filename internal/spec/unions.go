package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MAC is the list of mandatory access control frameworks asked for. It is
// written as one name (mac: apparmor) or a list; "none" entries are dropped.
// More than one framework is a compatibility error, not a decoding one, so
// the message can say why.
type MAC []MACName

func (m *MAC) decodeNode(d *decoder, n *yaml.Node, path string) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for i, item := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = indexPath(path, i)
			d.positions[p] = posOf(resolve(item))
		}
		if s, ok := d.str(resolve(item), p, reflect.TypeFor[MACName]()); ok && MACName(s) != MACNone {
			*m = append(*m, MACName(s))
		}
	}
}

// MarshalJSON writes one framework as a string, several as a list.
func (m MAC) MarshalJSON() ([]byte, error) {
	if len(m) == 1 {
		return json.Marshal(string(m[0]))
	}
	return json.Marshal([]MACName(m))
}

// Has reports whether framework f was asked for.
func (m MAC) Has(f MACName) bool {
	for _, x := range m {
		if x == f {
			return true
		}
	}
	return false
}

// KernelHardening is a hardening level, written as a level or as a boolean
// (true = basic, false = none).
type KernelHardening HardeningLevel

func (k *KernelHardening) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		*k = KernelHardening(HardeningNone)
		if n.Value == "true" {
			*k = KernelHardening(HardeningBasic)
		}
		return
	}
	if s, ok := d.str(n, path, reflect.TypeFor[HardeningLevel]()); ok {
		*k = KernelHardening(s)
	}
}

// Port is an allowed port or port range. A bare number is a TCP port;
// strings take a range and a protocol: "8000-8100/udp".
type Port struct {
	From, To uint16
	Proto    string // tcp or udp
}

// String formats the port as 22/tcp or 8000-8100/udp.
func (p Port) String() string {
	if p.From == p.To {
		return fmt.Sprintf("%d/%s", p.From, p.Proto)
	}
	return fmt.Sprintf("%d-%d/%s", p.From, p.To, p.Proto)
}

// MarshalJSON writes a single TCP port as a number, anything else as a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.From == p.To && p.Proto == "tcp" {
		return json.Marshal(p.From)
	}
	return json.Marshal(p.String())
}

func (p *Port) decodeNode(d *decoder, n *yaml.Node, path string) {
	if v, isInt, err := integer(n); isInt {
		if err != nil || v < 1 || v > 65535 {
			d.errorf(n, CodeRange, path, "", "port %s is out of range; expected 1 to 65535", n.Value)
			return
		}
		*p = Port{From: uint16(v), To: uint16(v), Proto: "tcp"}
		return
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.errorf(n, CodeType, path, "", "expected a port number or a string such as \"8000-8100/udp\", got %s", describe(n))
		return
	}
	if !rePort.MatchString(n.Value) {
		d.errorf(n, CodePattern, path, "", "%s is not a port: expected a number from 1 to 65535, a range such as 8000-8100, and an optional /tcp or /udp", quote(n.Value))
		return
	}
	spec, proto, _ := strings.Cut(n.Value, "/")
	if proto == "" {
		proto = "tcp"
	}
	// rePort matched: both numbers are 1 to 65535, so Atoi cannot fail.
	fromS, toS, isRange := strings.Cut(spec, "-")
	from, _ := strconv.Atoi(fromS)
	to := from
	if isRange {
		to, _ = strconv.Atoi(toS)
	}
	if to < from {
		d.errorf(n, CodeRule, path, "", "port range %s ends before it starts", n.Value)
		return
	}
	*p = Port{From: uint16(from), To: uint16(to), Proto: proto}
}

// Dotfiles are the default user's configuration files: a repository to
// clone (dotfiles: https://github.com/me/dots) and/or inline files.
type Dotfiles struct {
	Repo  RepoURL             `json:"repo,omitempty"`
	Ref   GitRef              `json:"ref,omitempty" jsonschema_description:"Branch, tag or commit to check out. Default: the repository's default branch."`
	Files map[HomePath]string `json:"files,omitempty" jsonschema:"maxProperties=64" jsonschema_description:"Inline files: path relative to the home directory → content."`
}

// IsZero reports whether no dotfiles were asked for.
func (f Dotfiles) IsZero() bool { return f.Repo == "" && f.Ref == "" && len(f.Files) == 0 }

func (f *Dotfiles) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		if s, ok := d.str(n, path, reflect.TypeFor[RepoURL]()); ok {
			f.Repo = RepoURL(s)
		}
		return
	}
	d.structValue(n, path, reflect.ValueOf(f).Elem())
}

// Script is a postInstall script. It is written as the script text, or as
// {name, run}. Scripts are data: they are copied into the image as files and
// executed as files, never spliced into a command line.
type Script struct {
	Name ScriptName `json:"name,omitempty"`
	Run  string     `json:"run" jsonschema:"required,minLength=1,maxLength=65536" jsonschema_description:"The script. Without a #! line it runs with /bin/sh."`
}

func (s *Script) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		if v, ok := d.str(n, path, reflect.TypeFor[string]()); ok {
			s.Run = v
			d.checkScript(n, path, v)
		}
		return
	}
	before := len(d.diags)
	d.structValue(n, path, reflect.ValueOf(s).Elem())
	// run: "" (or an empty block scalar) is an empty script, not a
	// missing one; a missing or null run was reported by structValue.
	runPath := joinPath(path, "run")
	if _, written := d.positions[runPath]; written && len(d.diags) == before {
		d.checkScript(n, runPath, s.Run)
	}
}

func (d *decoder) checkScript(n *yaml.Node, path, run string) {
	switch {
	case run == "":
		d.errorf(n, CodeRange, path, "", "the script is empty")
	case utf8.RuneCountInString(run) > 65536:
		d.errorf(n, CodeRange, path, "", "the script is longer than 65536 characters")
	case strings.TrimSpace(run) == "":
		d.errorf(n, CodeRule, path, "", "the script is only white space")
	case strings.ContainsRune(run, 0):
		d.errorf(n, CodeRule, path, "", "the script contains a NUL byte")
	}
}

// decodeNode decodes the firewall section; a section that is present turns
// the firewall on unless it says enabled: false.
func (f *Firewall) decodeNode(d *decoder, n *yaml.Node, path string) {
	d.structValue(n, path, reflect.ValueOf(f).Elem())
	if n.Kind == yaml.MappingNode && f.Enabled == nil {
		on := true
		f.Enabled = &on
	}
}
