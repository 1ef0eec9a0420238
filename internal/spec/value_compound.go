package spec

import (
	"reflect"
	"slices"

	yaml "go.yaml.in/yaml/v3"
)

// structValue decodes a mapping into a struct: unknown fields, with a
// suggestion, and missing required ones are errors.
func (d *decoder) structValue(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, CodeType, path, "", "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make([]bool, len(fields))
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := resolve(n.Content[i]), n.Content[i+1]
		idx := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.name == key.Value })
		if idx < 0 {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			where := "the spec"
			if path != "" {
				where = path
			}
			d.errorf(n.Content[i], CodeUnknownField, keyPath(path, key.Value), suggest(key.Value, names),
				"unknown field %s in %s", quote(key.Value), where)
			continue
		}
		if seen[idx] {
			continue // reported as a duplicate key by check
		}
		f := fields[idx]
		p := joinPath(path, f.name)
		d.positions[p] = posOf(n.Content[i])
		if isNull(val) {
			continue // null means "not set": a required field is still missing
		}
		seen[idx] = true
		d.value(val, p, v.Field(f.index), f)
	}
	for i, f := range fields {
		if f.required && !seen[i] {
			p := joinPath(path, f.name)
			if pos, written := d.positions[p]; written {
				d.add(pos, SeverityError, CodeRequired, p, "", "required field %s has no value", quote(f.name))
				continue
			}
			d.errorf(n, CodeRequired, p, "", "missing required field %s", quote(f.name))
		}
	}
}

// sliceValue decodes a list; an empty one leaves v unset.
func (d *decoder) sliceValue(n *yaml.Node, path string, v reflect.Value, fi fieldInfo) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, CodeType, path, "", "expected a list, got %s", describe(n))
		return
	}
	if fi.maxItems > 0 && len(n.Content) > fi.maxItems {
		d.errorf(n, CodeRange, path, "", "the list has %d items; at most %d are allowed", len(n.Content), fi.maxItems)
		return
	}
	if len(n.Content) < fi.minItems {
		d.errorf(n, CodeRange, path, "leave the field out for the default", "the list is empty; at least %d item is needed", fi.minItems)
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	firstAt := map[string]int{}
	for i, item := range n.Content {
		p := indexPath(path, i)
		d.positions[p] = posOf(resolve(item))
		if isNull(item) {
			d.errorf(resolve(item), CodeType, p, "", "a list item cannot be null")
			continue
		}
		before := len(d.diags)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(item, p, elem, fieldInfo{})
		if len(d.diags) != before {
			continue
		}
		if fi.unique && elem.Kind() == reflect.String {
			s := elem.String()
			if first, dup := firstAt[s]; dup {
				d.errorf(resolve(item), CodeEnum, p, "", "%s is listed twice (first at line %d)", quote(s), d.positions[indexPath(path, first)].Line)
				continue
			}
			firstAt[s] = i
		}
		out = reflect.Append(out, elem)
	}
	if out.Len() > 0 { // an empty list is "not set", like a missing one
		v.Set(out)
	}
}

// mapValue decodes a mapping into a map; an empty one leaves v unset.
func (d *decoder) mapValue(n *yaml.Node, path string, v reflect.Value, fi fieldInfo) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, CodeType, path, "", "expected a mapping, got %s", describe(n))
		return
	}
	if fi.maxItems > 0 && len(n.Content)/2 > fi.maxItems {
		d.errorf(n, CodeRange, path, "", "the mapping has %d keys; at most %d are allowed", len(n.Content)/2, fi.maxItems)
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode := resolve(n.Content[i])
		p := keyPath(path, keyNode.Value)
		d.positions[p] = posOf(n.Content[i])
		key := reflect.New(v.Type().Key()).Elem()
		if rule := scalarRules[key.Type()]; rule != nil {
			if code, msg, hint := rule.check(keyNode.Value); code != "" {
				d.errorf(n.Content[i], code, p, hint, "key: %s", msg)
				continue
			}
		}
		key.SetString(keyNode.Value)
		if isNull(n.Content[i+1]) {
			d.errorf(resolve(n.Content[i+1]), CodeType, p, "", "a value cannot be null here")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(n.Content[i+1], p, elem, fieldInfo{})
		out.SetMapIndex(key, elem)
	}
	if out.Len() > 0 {
		v.Set(out)
	}
}
