package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the generated schema.
const SchemaID = "https://github.com/linux-builder/linux-builder/schema/linux-build.schema.json"

// unionSchemas are the hand-written schemas of types that accept more than
// one shape. Each mirrors that type's decodeNode.
var unionSchemas = map[reflect.Type]func() *jsonschema.Schema{
	reflect.TypeFor[Packages](): func() *jsonschema.Schema {
		name := scalarRules[reflect.TypeFor[Name]()].schema()
		list := &jsonschema.Schema{Type: "array", Items: name, MaxItems: ptr(uint64(maxPackages))}
		cats := jsonschema.NewProperties()
		for _, c := range PackageCategories {
			cats.Set(string(c), &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
				{Type: "array", Items: scalarRules[reflect.TypeFor[Name]()].schema()},
				{Type: "null"},
			}})
		}
		return &jsonschema.Schema{
			Description: "Packages to install, in one of three forms: a list of names; an object of categories (base, development, ai_ml, security, networking, databases, servers, multimedia, utils) to lists; or an object of names to true (install) or false (leave out even when a feature would add it).",
			OneOf: []*jsonschema.Schema{
				list,
				{Type: "object", Properties: cats, AdditionalProperties: jsonschema.FalseSchema, MinProperties: ptr(uint64(1))},
				{Type: "object", PropertyNames: scalarRules[reflect.TypeFor[Name]()].schema(), AdditionalProperties: &jsonschema.Schema{Type: "boolean"}, MinProperties: ptr(uint64(1)), MaxProperties: ptr(uint64(maxPackages))},
				{Type: "object", MaxProperties: ptr(uint64(0))},
			},
		}
	},
	reflect.TypeFor[MAC](): func() *jsonschema.Schema {
		return &jsonschema.Schema{
			Description: "Mandatory access control: apparmor, selinux or none, or a list of them. Only one framework can be active.",
			OneOf: []*jsonschema.Schema{
				scalarRules[reflect.TypeFor[MACName]()].schema(),
				{Type: "array", Items: scalarRules[reflect.TypeFor[MACName]()].schema()},
			},
		}
	},
	reflect.TypeFor[KernelHardening](): func() *jsonschema.Schema {
		return &jsonschema.Schema{
			Description: "Kernel hardening (sysctl.d): none, basic or strict; true means basic, false means none. Default none.",
			OneOf: []*jsonschema.Schema{
				{Type: "boolean"},
				scalarRules[reflect.TypeFor[HardeningLevel]()].schema(),
			},
		}
	},
	reflect.TypeFor[Port](): func() *jsonschema.Schema {
		return &jsonschema.Schema{
			Description: "A port allowed in: a number (TCP), or a string with an optional range and protocol such as \"8000-8100/udp\".",
			OneOf: []*jsonschema.Schema{
				{Type: "integer", Minimum: json.Number("1"), Maximum: json.Number("65535")},
				{Type: "string", Pattern: rePort.String()},
			},
		}
	},
}

// shorthands are struct types that may also be written as a single string;
// the generated object schema is wrapped in a oneOf with that string.
var shorthands = map[string]func() *jsonschema.Schema{
	"Dotfiles": func() *jsonschema.Schema { return scalarRules[reflect.TypeFor[RepoURL]()].schema() },
	"Script": func() *jsonschema.Schema {
		return &jsonschema.Schema{Type: "string", MinLength: ptr(uint64(1)), MaxLength: ptr(uint64(65536))}
	},
}

var shorthandDescriptions = map[string]string{
	"Dotfiles": "Dotfiles of the default user: a repository URL, or an object with repo, ref and inline files.",
	"Script":   "A postInstall script: its text, or an object with name and run.",
}

// Schema returns the JSON Schema (draft 2020-12) of linux-build.yaml,
// generated from the Go types and the same registry of enums and patterns
// the decoder enforces.
func Schema() *jsonschema.Schema {
	// Registered types become named definitions referenced with $ref, so a
	// field's own description sits beside the $ref instead of replacing the
	// type's description and values.
	mapped := map[string]*jsonschema.Schema{}
	r := &jsonschema.Reflector{
		RequiredFromJSONSchemaTags: true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			var def *jsonschema.Schema
			if fn := unionSchemas[t]; fn != nil {
				def = fn()
			} else if rule := scalarRules[t]; rule != nil {
				def = rule.schema()
			} else {
				return nil
			}
			mapped[t.Name()] = def
			return &jsonschema.Schema{Ref: "#/$defs/" + t.Name()}
		},
	}
	s := r.Reflect(&Spec{})
	for name, def := range mapped {
		s.Definitions[name] = def
	}
	s.ID = SchemaID
	s.Title = "linux-build.yaml"
	s.Description = "A Linux system for Linux Builder to build: base distribution, kernel, init, file systems, desktop, packages, hardening, services, backups and customisation. Null values mean \"not set\"."
	addMapKeywords(s, reflect.TypeFor[Spec](), map[reflect.Type]bool{})
	for _, def := range s.Definitions {
		allowNullOptional(def)
	}
	for name, fn := range shorthands {
		def, ok := s.Definitions[name]
		if !ok {
			panic(fmt.Sprintf("schema: no definition %s to add a shorthand to", name))
		}
		s.Definitions[name] = &jsonschema.Schema{
			Description: shorthandDescriptions[name],
			OneOf:       []*jsonschema.Schema{fn(), def},
		}
	}
	return s
}

// addMapKeywords gives map fields the keywords the reflector does not
// generate: propertyNames from the key type's registered rule, and
// maxProperties from the field's tag.
func addMapKeywords(s *jsonschema.Schema, t reflect.Type, seen map[reflect.Type]bool) {
	if seen[t] || t.Kind() != reflect.Struct {
		return
	}
	seen[t] = true
	for _, f := range fieldsOf(t) {
		ft := t.Field(f.index).Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			addMapKeywords(s, ft, seen)
		case reflect.Map:
			def := s.Definitions[t.Name()]
			if def == nil {
				continue
			}
			prop, ok := def.Properties.Get(f.name)
			if !ok {
				continue
			}
			if rule := scalarRules[ft.Key()]; rule != nil {
				prop.PropertyNames = rule.schema()
			}
			if f.maxItems > 0 {
				prop.MaxProperties = ptr(uint64(f.maxItems))
			}
		}
	}
}

// allowNullOptional lets every optional property of an object schema be
// null, as the decoder reads null as "not set" (display: with nothing under
// it). Required properties, list items and map values stay non-null, as
// they are in the decoder.
func allowNullOptional(def *jsonschema.Schema) {
	if def.Properties == nil {
		return
	}
	for pair := def.Properties.Oldest(); pair != nil; pair = pair.Next() {
		if slices.Contains(def.Required, pair.Key) {
			continue
		}
		prop := pair.Value
		desc := prop.Description
		prop.Description = ""
		pair.Value = &jsonschema.Schema{Description: desc, AnyOf: []*jsonschema.Schema{prop, {Type: "null"}}}
	}
}

// SchemaJSON returns the schema as indented JSON with a trailing newline, the
// form committed to schema/linux-build.schema.json.
func SchemaJSON() ([]byte, error) {
	b, err := json.MarshalIndent(Schema(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal schema: %w", err)
	}
	return append(b, '\n'), nil
}

func ptr[T any](v T) *T { return &v }
