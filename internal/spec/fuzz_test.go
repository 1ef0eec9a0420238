package spec

import (
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the decoder. Besides "never panics,
// never hangs", it checks the properties the rest of the bot relies on:
// every diagnostic is positioned inside the file, output is deterministic,
// a valid spec survives the JSON round trip, and the schema agrees with the
// decoder's structural verdict.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"examples/*", "testdata/specs/valid/*", "testdata/specs/invalid/*"} {
		for _, file := range specFiles(f, pattern) {
			f.Add(mustRead(f, file))
		}
	}
	for _, rc := range ruleCases {
		f.Add([]byte(rc.yaml))
	}
	for _, sc := range structuralCases {
		f.Add([]byte(sc.yaml))
	}
	sch := compileSchema(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, diags := Parse("f.yaml", src)
		lines := lineCount(src)
		for _, d := range diags {
			if d.File != "f.yaml" || d.Message == "" || (d.Severity != SeverityError && d.Severity != SeverityWarning) {
				t.Fatalf("malformed diagnostic %+v", d)
			}
			// go-yaml may place end-of-input errors one line past the end.
			if !d.Pos.IsValid() || d.Pos.Line > lines+1 || d.Pos.Column < 1 {
				t.Fatalf("diagnostic outside the file (%d lines): %+v", lines, d)
			}
		}
		_, again := Parse("f.yaml", src)
		if !reflect.DeepEqual(diags, again) {
			t.Fatalf("non-deterministic diagnostics:\n%s\n%s", dump(diags), dump(again))
		}
		if !diags.HasErrors() {
			if doc.Spec == nil {
				t.Fatalf("no errors but no spec")
			}
			assertRoundTrip(t, "fuzz", doc.Spec)
		}
		structural, input := errorKinds(diags)
		if input {
			return
		}
		inst, ok := toInstance(src)
		if !ok {
			return
		}
		err := sch.Validate(inst)
		if structural && err == nil {
			t.Fatalf("schema accepts what Go rejects:\n%s\n%s", src, dump(diags))
		}
		if !structural && err != nil {
			t.Fatalf("schema rejects what Go accepts:\n%s\n%v", src, err)
		}
	})
}
