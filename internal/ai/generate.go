package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// SpecFile is the name generated specs are validated and published as.
const SpecFile = "linux-build.yaml"

// Generator turns descriptions into valid specs.
type Generator struct {
	Client *Client
	// Attempts is how many answers the model gets to produce a valid
	// spec (the first and the repairs); default 3.
	Attempts int
	// Log, when set, receives one line per attempt (the run log).
	Log func(msg string)

	system string
	tmpl   *template.Template
}

// NewGenerator prepares the system prompt from templates/ai (fsys is
// linuxbuilder.Templates) with the spec's JSON Schema and example.
func NewGenerator(c *Client, fsys fs.FS, example []byte) (*Generator, error) {
	t, err := template.New("").Option("missingkey=error").ParseFS(fsys, "templates/ai/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse AI templates: %w", err)
	}
	schema, err := spec.SchemaJSON()
	if err != nil {
		return nil, err
	}
	var ex any
	if err := yaml.Unmarshal(example, &ex); err != nil {
		return nil, fmt.Errorf("example spec: %w", err)
	}
	exJSON, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("example spec: %w", err)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "system", map[string]string{"Schema": string(schema), "Example": string(exJSON)}); err != nil {
		return nil, fmt.Errorf("system prompt: %w", err)
	}
	return &Generator{Client: c, system: b.String(), tmpl: t}, nil
}

// SystemPrompt is the system message sent with every request.
func (g *Generator) SystemPrompt() string { return g.system }

// Result is a generated, valid spec.
type Result struct {
	// YAML is the spec as linux-build.yaml.
	YAML []byte
	// Warnings are the validator's warnings on YAML.
	Warnings spec.Diagnostics
	Attempts int
}

// GenerateError says the model never produced a valid spec.
type GenerateError struct {
	Attempts int
	// Problems are the last attempt's errors.
	Problems []string
}

func (e *GenerateError) Error() string {
	return fmt.Sprintf("the model did not produce a valid spec in %d attempts; the last one had these problems:\n  %s",
		e.Attempts, strings.Join(e.Problems, "\n  "))
}

// Generate asks the model for a spec matching prompt, validates it, and
// sends the errors back until it is valid or the attempts are spent. Each
// attempt is reported to g.Log.
func (g *Generator) Generate(ctx context.Context, prompt string) (*Result, error) {
	return g.GenerateLogged(ctx, prompt, g.Log)
}

// GenerateLogged is Generate reporting the attempts to log (nil: nowhere).
func (g *Generator) GenerateLogged(ctx context.Context, prompt string, log func(string)) (*Result, error) {
	prompt = strings.TrimSpace(prompt)
	if prompt == "" {
		return nil, errors.New("describe the system to build")
	}
	attempts := g.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	schema, err := spec.SchemaJSON()
	if err != nil {
		return nil, err
	}
	format := json.RawMessage(`"json"`)
	if ok, err := g.Client.StructuredOutput(ctx); err != nil {
		return nil, err
	} else if ok {
		format = schema
	}
	messages := []Message{{Role: "system", Content: g.system}, {Role: "user", Content: prompt}}
	var problems []string
	for attempt := 1; attempt <= attempts; attempt++ {
		answer, err := g.Client.Chat(ctx, messages, format)
		if err != nil {
			return nil, err
		}
		res, probs := check(answer)
		if res != nil {
			res.Attempts = attempt
			logf(log, "attempt %d: a valid spec (%d warnings)", attempt, len(res.Warnings))
			return res, nil
		}
		problems = probs
		logf(log, "attempt %d: %d problem(s): %s", attempt, len(probs), strings.Join(probs, "; "))
		var repair strings.Builder
		if err := g.tmpl.ExecuteTemplate(&repair, "repair", map[string]any{"Errors": probs}); err != nil {
			return nil, err
		}
		messages = append(messages, Message{Role: "assistant", Content: answer}, Message{Role: "user", Content: repair.String()})
	}
	return nil, &GenerateError{Attempts: attempts, Problems: problems}
}

func logf(log func(string), format string, args ...any) {
	if log != nil {
		log(fmt.Sprintf(format, args...))
	}
}

// check extracts, decodes and validates an answer: a result, or the
// problems to send back.
func check(answer string) (*Result, []string) {
	obj, err := Extract(answer)
	if err != nil {
		return nil, []string{err.Error()}
	}
	y, err := toYAML(obj)
	if err != nil {
		return nil, []string{err.Error()}
	}
	_, diags := spec.Parse(SpecFile, y)
	if diags.HasErrors() {
		var probs []string
		for _, d := range diags.Errors() {
			probs = append(probs, d.String())
		}
		return nil, probs
	}
	return &Result{YAML: y, Warnings: diags.Warnings()}, nil
}

var thinkBlock = regexp.MustCompile(`(?s)<think>.*?</think>`)

// Extract returns the first complete JSON object of a model's answer,
// after dropping <think>…</think> blocks; code fences and prose around it
// are ignored.
func Extract(answer string) ([]byte, error) {
	s := thinkBlock.ReplaceAllString(answer, "")
	if i := strings.Index(s, "<think>"); i >= 0 {
		s = s[:i] // an unfinished thought: nothing after it is an answer
	}
	sawStart := false
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		sawStart = true
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			continue
		}
		if len(raw) > 0 && raw[0] == '{' {
			return raw, nil
		}
	}
	if sawStart {
		return nil, errors.New("the answer has no complete JSON object (it is cut off or malformed); answer with one complete JSON object")
	}
	return nil, errors.New("the answer has no JSON object; answer with one JSON object")
}

// toYAML turns a JSON object into block-style YAML, keeping its key order.
func toYAML(obj []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(obj, &n); err != nil {
		return nil, fmt.Errorf("the JSON object cannot be read: %w", err)
	}
	blockStyle(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("write YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write YAML: %w", err)
	}
	return b.Bytes(), nil
}

func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0 // the encoder quotes what needs quoting
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
