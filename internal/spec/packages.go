package spec

import (
	"encoding/json"
	"reflect"

	yaml "go.yaml.in/yaml/v3"
)

// PackageForm records which of the three package forms a spec used, so the
// normalised spec can be written back in the same form.
type PackageForm string

// Package forms.
const (
	PackageFormList        PackageForm = "list"
	PackageFormCategorized PackageForm = "categorized"
	PackageFormMap         PackageForm = "map"
)

// Packages is the normal form of the three ways a spec may list packages:
//
//	packages: [git, vim]                          # a list
//	packages: {development: [git], utils: [vim]}  # categorized
//	packages: {git: true, nano: false}            # a map name→bool
//
// Items holds the requested packages in source order, without duplicates;
// Excluded holds the names mapped to false (to be left out even when a
// feature would add them).
type Packages struct {
	Form     PackageForm
	Items    []PackageRef
	Excluded []Name
	// paths are the field paths of Items, for diagnostics.
	paths []string
}

// itemPath returns the field path of Items[i] ("packages[2]",
// "packages.utils[0]", `packages["vim"]`).
func (p Packages) itemPath(i int) string {
	if i < len(p.paths) {
		return p.paths[i]
	}
	return "packages"
}

// PackageRef is one requested package.
type PackageRef struct {
	Name     Name            `json:"name"`
	Category PackageCategory `json:"category,omitempty"`
}

// Names returns the requested package names in order.
func (p Packages) Names() []string {
	out := make([]string, len(p.Items))
	for i, it := range p.Items {
		out[i] = string(it.Name)
	}
	return out
}

func (p *Packages) decodeNode(d *decoder, n *yaml.Node, path string) {
	pd := &packagesDecoder{d: d, p: p, firstLine: map[Name]int{}}
	switch n.Kind {
	case yaml.SequenceNode:
		pd.list(n, path)
	case yaml.MappingNode:
		pd.mapping(n, path)
	default:
		d.errorf(n, CodeType, path, "", "expected a list of packages, a mapping of categories to lists, or a mapping of names to true/false; got %s", describe(n))
	}
}

// packagesDecoder decodes one packages field, in any of its three forms.
type packagesDecoder struct {
	d *decoder
	p *Packages
	// firstLine is where each name was first listed, to report duplicates.
	firstLine map[Name]int
	// total counts the packages of the categorized form.
	total int
}

// addName adds the package named by item, at path p2, unless it is not a
// valid name or was listed before.
func (pd *packagesDecoder) addName(item *yaml.Node, p2 string, category PackageCategory) {
	d, p := pd.d, pd.p
	d.positions[p2] = posOf(item)
	s, ok := d.str(item, p2, reflect.TypeFor[Name]())
	if !ok {
		return
	}
	name := Name(s)
	if line, dup := pd.firstLine[name]; dup {
		d.add(posOf(item), SeverityWarning, CodeRule, p2, "", "package %s is listed twice (first at line %d)", quote(s), line)
		return
	}
	pd.firstLine[name] = item.Line
	p.Items = append(p.Items, PackageRef{Name: name, Category: category})
	p.paths = append(p.paths, p2)
}

// list decodes the list form.
func (pd *packagesDecoder) list(n *yaml.Node, path string) {
	pd.p.Form = PackageFormList
	if len(n.Content) > maxPackages {
		pd.d.errorf(n, CodeRange, path, "", "the list has %d packages; at most %d are allowed", len(n.Content), maxPackages)
		return
	}
	for i, item := range n.Content {
		pd.addName(resolve(item), indexPath(path, i), "")
	}
}

// mapping decodes the categorized and the name→bool forms. The values
// decide the form: lists mean categories, booleans mean a name→bool map.
// Mixing the two is an error at the first value of the other kind.
func (pd *packagesDecoder) mapping(n *yaml.Node, path string) {
	d, p := pd.d, pd.p
	if len(n.Content) == 0 {
		p.Form = PackageFormList
		return
	}
	first := resolve(n.Content[1])
	if first.Kind == yaml.SequenceNode || (first.Kind == yaml.ScalarNode && first.Tag == "!!null") {
		p.Form = PackageFormCategorized
	} else {
		p.Form = PackageFormMap
	}
	if p.Form == PackageFormMap && len(n.Content)/2 > maxPackages {
		d.errorf(n, CodeRange, path, "", "the mapping has %d packages; at most %d are allowed", len(n.Content)/2, maxPackages)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		kp := keyPath(path, key.Value)
		d.positions[kp] = posOf(n.Content[i])
		if p.Form == PackageFormMap {
			pd.mapEntry(key, val, kp)
		} else if !pd.category(key, val, kp) {
			return
		}
	}
}

// category decodes one category of the categorized form; it reports
// whether decoding goes on (false once there are too many packages).
func (pd *packagesDecoder) category(key, val *yaml.Node, kp string) bool {
	d := pd.d
	if code, _, hint := scalarRules[reflect.TypeFor[PackageCategory]()].check(key.Value); code != "" {
		d.errorf(key, CodeUnknownField, kp, hint, "unknown package category %s; expected one of %s",
			quote(key.Value), joinAny(PackageCategories))
		return true
	}
	if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
		return true
	}
	if val.Kind != yaml.SequenceNode {
		d.errorf(val, CodeType, kp, "", "expected a list of packages (categorized form), got %s", describe(val))
		return true
	}
	pd.total += len(val.Content)
	if pd.total > maxPackages {
		d.errorf(val, CodeRange, kp, "", "more than %d packages in all", maxPackages)
		return false
	}
	for j, item := range val.Content {
		pd.addName(resolve(item), indexPath(kp, j), PackageCategory(key.Value))
	}
	return true
}

// mapEntry decodes one name: true|false of the name→bool form.
func (pd *packagesDecoder) mapEntry(key, val *yaml.Node, kp string) {
	d := pd.d
	if code, msg, hint := scalarRules[reflect.TypeFor[Name]()].check(key.Value); code != "" {
		d.errorf(key, code, kp, hint, "%s", msg)
		return
	}
	if val.Kind != yaml.ScalarNode || val.Tag != "!!bool" {
		d.errorf(val, CodeType, kp, "", "expected true or false (name→bool form), got %s", describe(val))
		return
	}
	if val.Value == "true" {
		pd.addName(key, kp, "")
	} else {
		pd.p.Excluded = append(pd.p.Excluded, Name(key.Value))
	}
}

// maxPackages bounds the package list.
const maxPackages = 2048

// MarshalJSON writes the packages back in the form they were written in.
func (p Packages) MarshalJSON() ([]byte, error) {
	switch p.Form {
	case PackageFormCategorized:
		byCat := map[PackageCategory][]Name{}
		for _, it := range p.Items {
			byCat[it.Category] = append(byCat[it.Category], it.Name)
		}
		return json.Marshal(byCat)
	case PackageFormMap:
		m := map[Name]bool{}
		for _, it := range p.Items {
			m[it.Name] = true
		}
		for _, n := range p.Excluded {
			m[n] = false
		}
		return json.Marshal(m)
	default:
		names := make([]Name, 0, len(p.Items))
		for _, it := range p.Items {
			names = append(names, it.Name)
		}
		return json.Marshal(names)
	}
}

// IsZero reports whether no package was asked for.
func (p Packages) IsZero() bool { return len(p.Items) == 0 && len(p.Excluded) == 0 }
