package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

const schemaFile = repoRoot + "/schema/linux-build.schema.json"

// The committed schema is the generated one.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	got, err := SchemaJSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := mustRead(t, schemaFile)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; run: go test ./internal/spec -run TestCommittedSchemaIsCurrent -update", schemaFile)
	}
}

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustRead(t, schemaFile)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// toInstance converts YAML (or JSON) to the JSON value a schema validator
// sees.
func toInstance(src []byte) (any, bool) {
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil || len(n.Content) == 0 {
		return nil, false
	}
	v, ok := nodeToAny(n.Content[0])
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	return inst, err == nil
}

func nodeToAny(n *yaml.Node) (any, bool) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, ok := nodeToAny(n.Content[i+1])
			if !ok {
				return nil, false
			}
			m[resolve(n.Content[i]).Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			v, ok := nodeToAny(c)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case yaml.ScalarNode:
		if n.Tag == "!!timestamp" {
			return n.Value, true
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// errorKinds says whether diags has structural errors (the schema must
// reject the spec) and input errors (no JSON instance to compare exists).
func errorKinds(diags Diagnostics) (structural, input bool) {
	for _, d := range diags.Errors() {
		structural = structural || d.Code.IsStructural()
		input = input || (!d.Code.IsStructural() && d.Code != CodeRule)
	}
	return structural, input
}

// driftCases gathers every spec the tests know: examples, fixtures, and the
// inline cases of the decoder and rule tests.
func driftCases(t *testing.T) map[string][]byte {
	cases := map[string][]byte{}
	for _, pattern := range []string{"examples/*", "testdata/specs/valid/*", "testdata/specs/invalid/*"} {
		for _, f := range specFiles(t, pattern) {
			cases[f] = mustRead(t, f)
		}
	}
	for _, rc := range ruleCases {
		cases["rule "+rc.name] = []byte(rc.yaml)
	}
	return cases
}

// TestSchemaAgreesWithDecoder: for every known spec, the JSON Schema rejects
// it exactly when the Go decoder reports a structural error. Input errors
// (syntax, encoding, aliases, duplicate keys) and compatibility rules are
// beyond a schema and are left out.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	sch := compileSchema(t)
	cases := driftCases(t)
	for _, tc := range structuralCases {
		cases["structural "+tc.name] = []byte(tc.yaml)
	}
	checked, rejected := 0, 0
	for name, src := range cases {
		name := filepath.Base(name)
		_, diags := Parse(name, src)
		structural, input := errorKinds(diags)
		if input {
			continue
		}
		inst, ok := toInstance(src)
		if !ok {
			continue
		}
		checked++
		err := sch.Validate(inst)
		if structural {
			rejected++
		}
		switch {
		case structural && err == nil:
			t.Errorf("%s: Go reports structural errors but the schema accepts it:\n%s", name, dump(diags.Errors()))
		case !structural && err != nil:
			t.Errorf("%s: the schema rejects a spec the Go decoder accepts: %v", name, err)
		}
	}
	if checked < 100 || rejected < 20 {
		t.Fatalf("only %d specs checked (%d structurally invalid); the drift test lost its inputs", checked, rejected)
	}
}

// Every example passes the schema.
func TestExamplesPassSchema(t *testing.T) {
	sch := compileSchema(t)
	for _, f := range specFiles(t, "examples/*") {
		inst, ok := toInstance(mustRead(t, f))
		if !ok {
			t.Fatalf("%s: not convertible to JSON", f)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestSchemaDescribesEveryField(t *testing.T) {
	s := string(mustRead(t, schemaFile))
	for _, field := range []string{"securityFeatures", "kernelHardening", "allowedPorts", "shellFramework", "dotfiles", "systemTuning", "macRandomization", "destinations", "partitions"} {
		if !strings.Contains(s, `"`+field+`"`) {
			t.Errorf("schema lacks %s", field)
		}
	}
}
