package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// ParseOutputs reads a list of output names given outside a spec (bot
// build --outputs iso,qcow2): each must be known, listed once and one the
// pipeline can make today.
func ParseOutputs(names []string) ([]Output, error) {
	if len(names) == 0 {
		return nil, errors.New("no output named; expected one or more of iso, qcow2, raw")
	}
	rule := scalarRules[reflect.TypeFor[Output]()]
	var out []Output
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, msg, _ := rule.check(n); msg != "" {
			return nil, errors.New(msg)
		}
		o := Output(n)
		if slices.Contains(out, o) {
			return nil, fmt.Errorf("%s is listed twice", n)
		}
		if !Buildable(o) {
			return nil, fmt.Errorf("%s are not built yet: this builder makes %s only for now", outputNames[o], joinOutputNames())
		}
		out = append(out, o)
	}
	return out, nil
}

// SetOutputs returns src with its top-level outputs replaced by outs (or
// added), changing no other line, so every diagnostic about the result
// points where it would in src (in JSON, fields after the value on the
// same line move along it). A spec that does not parse is returned
// as is: validation reports why. JSON specs and YAML block mappings can be
// rewritten; a YAML spec written as one flow mapping ({base: debian, ...})
// cannot, and is an error.
func SetOutputs(file string, src []byte, outs []Output) (_ []byte, err error) {
	// As in Decode: a parser panic on hostile input is an error, never a
	// crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("set outputs: cannot parse the spec: %v", r)
		}
	}()
	if len(outs) == 0 {
		return nil, errors.New("set outputs: no output given")
	}
	if len(src) > MaxFileSize || !utf8.Valid(src) {
		return src, nil
	}
	var top yaml.Node
	if err := yaml.Unmarshal(src, &top); err != nil || top.Kind != yaml.DocumentNode || len(top.Content) != 1 {
		return src, nil
	}
	m := top.Content[0]
	if m.Kind != yaml.MappingNode {
		return src, nil
	}
	var key, val *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == "outputs" {
			key, val = m.Content[i], m.Content[i+1]
		}
	}
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = string(o)
	}
	if strings.EqualFold(path.Ext(file), ".json") {
		return setOutputsJSON(src, m, key, val, names)
	}
	if m.Style&yaml.FlowStyle != 0 {
		return nil, errors.New("set outputs: the spec is one flow mapping ({...}); write outputs in the file instead")
	}
	list := "[" + strings.Join(names, ", ") + "]"
	lines := bytes.SplitAfter(src, []byte("\n"))
	if key == nil {
		return appendOutputs(src, lines, list)
	}
	// The value runs from the key's line to the line before the next
	// top-level key (or the end): its lines become one line and blanks.
	end := len(lines) // 0-based index of the first line after the value
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Line > key.Line && k.Line-1 < end {
			end = k.Line - 1
		}
	}
	start := key.Line - 1
	if start < 0 || start >= len(lines) || end <= start {
		return nil, errors.New("set outputs: cannot find the outputs field's lines")
	}
	var out bytes.Buffer
	for _, l := range lines[:start] {
		out.Write(l)
	}
	fmt.Fprintf(&out, "%soutputs: %s\n", strings.Repeat(" ", key.Column-1), list)
	for range lines[start+1 : end] {
		out.WriteByte('\n')
	}
	for _, l := range lines[end:] {
		out.Write(l)
	}
	// The last line of src may have had no line break.
	if end == len(lines) && !bytes.HasSuffix(src, []byte("\n")) {
		return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
	}
	return out.Bytes(), nil
}

// setOutputsJSON replaces the value of "outputs" in a JSON object, or adds
// the field right after the opening brace.
func setOutputsJSON(src []byte, m, key, val *yaml.Node, names []string) ([]byte, error) {
	quoted, err := json.Marshal(names)
	if err != nil {
		return nil, fmt.Errorf("set outputs: %w", err)
	}
	if key == nil {
		open := offsetOf(src, m.Line, m.Column)
		if open < 0 || open >= len(src) || src[open] != '{' {
			return nil, errors.New("set outputs: cannot find the JSON object")
		}
		sep := ","
		if len(m.Content) == 0 {
			sep = ""
		}
		ins := `"outputs": ` + string(quoted) + sep
		return slices.Concat(src[:open+1], []byte(ins), src[open+1:]), nil
	}
	from := offsetOf(src, val.Line, val.Column)
	if from < 0 {
		return nil, errors.New("set outputs: cannot find the outputs value")
	}
	dec := json.NewDecoder(bytes.NewReader(src[from:]))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return src, nil // validation reports the syntax error
	}
	to := from + int(dec.InputOffset())
	// Keep the line count: the old value's line breaks go inside the
	// new list.
	breaks := bytes.Count(src[from:to], []byte("\n"))
	repl := append(quoted[:len(quoted)-1:len(quoted)-1], bytes.Repeat([]byte("\n"), breaks)...)
	repl = append(repl, ']')
	return slices.Concat(src[:from], repl, src[to:]), nil
}

// offsetOf converts a 1-based line and column (in characters, as the YAML
// parser counts) into a byte offset, or -1.
func offsetOf(src []byte, line, col int) int {
	l, c := 1, 1
	for i := 0; i < len(src); {
		if l == line && c == col {
			return i
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == '\n' {
			l++
			c = 1
		} else {
			c++
		}
		i += size
	}
	return -1
}

// appendOutputs adds a top-level outputs line at the end of a YAML spec
// that has none.
func appendOutputs(src []byte, lines [][]byte, list string) ([]byte, error) {
	for _, l := range lines {
		if t := bytes.TrimRight(l, " \t\r\n"); bytes.Equal(t, []byte("...")) || bytes.HasPrefix(l, []byte("... ")) {
			return nil, errors.New("set outputs: the spec ends with a document end marker (...); write outputs in the file instead")
		}
	}
	out := append([]byte{}, src...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "outputs: "+list+"\n"...), nil
}
