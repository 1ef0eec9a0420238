package spec

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// nodeDecoder is implemented by types that accept more than one YAML shape
// (a string or an object, a bool or a level, ...).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// fieldInfo is what the decoder needs to know about a struct field. The
// constraints are read from the same `jsonschema` tags the schema generator
// reads, so both enforce the same limits.
type fieldInfo struct {
	name     string
	index    int
	required bool
	min, max *int64
	maxItems int
	// minItems > 0 makes an empty list an error rather than "not set".
	minItems int
	unique   bool
}

var fieldCache sync.Map // reflect.Type → []fieldInfo

func fieldsOf(t reflect.Type) []fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]fieldInfo)
	}
	var fields []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fi := fieldInfo{name: name, index: i}
		for tag := range strings.SplitSeq(sf.Tag.Get("jsonschema"), ",") {
			key, val, _ := strings.Cut(tag, "=")
			switch key {
			case "required":
				fi.required = true
			case "minimum":
				n := tagInt(t, sf, val)
				fi.min = &n
			case "maximum":
				n := tagInt(t, sf, val)
				fi.max = &n
			case "maxItems", "maxProperties":
				fi.maxItems = int(tagInt(t, sf, val))
			case "minItems":
				fi.minItems = int(tagInt(t, sf, val))
			case "uniqueItems":
				fi.unique = val == "true"
			}
		}
		fields = append(fields, fi)
	}
	fieldCache.Store(t, fields)
	return fields
}

// tagInt parses a number in a jsonschema tag. The tags are this package's
// own constants, so a bad one is a programming error, caught by every test
// that decodes a spec.
func tagInt(t reflect.Type, sf reflect.StructField, val string) int64 {
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("spec: bad number %q in the jsonschema tag of %s.%s: %v", val, t.Name(), sf.Name, err))
	}
	return n
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func keyPath(parent, key string) string {
	if reWord.MatchString(key) && !strings.Contains(key, ".") {
		return joinPath(parent, key)
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

// describe names the shape of a node for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		case "!!str":
			return "the string " + quote(n.Value)
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "an unsupported node"
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// value decodes n into v. Null leaves v at its zero value ("not set").
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value, fi fieldInfo) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, path, elem.Elem(), fi)
		v.Set(elem)
	case reflect.Struct:
		d.structValue(n, path, v)
	case reflect.Slice:
		d.sliceValue(n, path, v, fi)
	case reflect.Map:
		d.mapValue(n, path, v, fi)
	case reflect.String:
		if s, ok := d.str(n, path, v.Type()); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(n, CodeType, path, "", "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int:
		d.intValue(n, path, v, fi)
	default:
		// Unreachable for the spec's types; a programming error, reported
		// rather than panicking.
		d.errorf(n, CodeType, path, "", "internal error: cannot decode into %s", v.Type())
	}
}

// str decodes a string scalar and checks it against the type's registered
// rule. Numbers are refused rather than converted: YAML reads 24.10 as the
// number 24.1, which is not the release the user meant.
func (d *decoder) str(n *yaml.Node, path string, t reflect.Type) (string, bool) {
	// A plain 2024-05-01 is a timestamp to YAML but text to the user.
	isText := n.Tag == "!!str" || (n.Tag == "!!timestamp" && n.Style == 0)
	if n.Kind != yaml.ScalarNode || !isText {
		hint := ""
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool") {
			hint = "put it in quotes: \"" + n.Value + "\""
		}
		d.errorf(n, CodeType, path, hint, "expected a string, got %s", describe(n))
		return "", false
	}
	if rule := scalarRules[t]; rule != nil {
		if code, msg, hint := rule.check(n.Value); code != "" {
			d.errorf(n, code, path, hint, "%s", msg)
			return "", false
		}
	}
	return n.Value, true
}

// integer reads an integer scalar. Like JSON Schema's "integer", it takes
// any number with no fractional part, so 10.0 (and YAML's 08, a float) are
// 10 and 8.
func integer(n *yaml.Node) (i int64, isInt bool, err error) {
	if n.Kind != yaml.ScalarNode {
		return 0, false, nil
	}
	switch n.Tag {
	case "!!int":
		i, err := strconv.ParseInt(n.Value, 0, 64)
		return i, true, err
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
			return 0, false, nil
		}
		if f < math.MinInt64 || f > math.MaxInt64 {
			return 0, true, strconv.ErrRange
		}
		return int64(f), true, nil
	}
	return 0, false, nil
}

func (d *decoder) intValue(n *yaml.Node, path string, v reflect.Value, fi fieldInfo) {
	i, isInt, err := integer(n)
	if !isInt {
		d.errorf(n, CodeType, path, "", "expected an integer, got %s", describe(n))
		return
	}
	if err != nil {
		d.errorf(n, CodeRange, path, "", "integer %s is out of range", n.Value)
		return
	}
	if fi.min != nil && i < *fi.min {
		d.errorf(n, CodeRange, path, "", "%d is out of range; expected %s", i, rangeText(fi))
		return
	}
	if fi.max != nil && i > *fi.max {
		d.errorf(n, CodeRange, path, "", "%d is out of range; expected %s", i, rangeText(fi))
		return
	}
	v.SetInt(i)
}

func rangeText(fi fieldInfo) string {
	switch {
	case fi.min != nil && fi.max != nil:
		return fmt.Sprintf("%d to %d", *fi.min, *fi.max)
	case fi.min != nil:
		return fmt.Sprintf("at least %d", *fi.min)
	default:
		return fmt.Sprintf("at most %d", *fi.max)
	}
}

// quote quotes s for a message, cut to its first 60 bytes.
func quote(s string) string {
	const maxLen = 60
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return strconv.Quote(s)
}

func itoa(i int) string { return strconv.Itoa(i) }
