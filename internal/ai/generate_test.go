package ai

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	linuxbuilder "github.com/linux-builder/linux-builder"
)

// fakeOllama answers /api/chat with scripted answers, one per request,
// and records the requests.
type fakeOllama struct {
	mu       sync.Mutex
	answers  []string
	requests []chatRequest
	version  string
	status   int           // non-zero: answer with it
	delay    time.Duration // before answering
}

func (f *fakeOllama) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/version":
			_ = json.NewEncoder(w).Encode(map[string]string{"version": f.version})
		case "/api/chat":
			var req chatRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				t.Errorf("chat request: %v", err)
			}
			f.mu.Lock()
			f.requests = append(f.requests, req)
			n := len(f.requests)
			f.mu.Unlock()
			if f.delay > 0 {
				select {
				case <-time.After(f.delay):
				case <-r.Context().Done():
					return
				}
			}
			if f.status != 0 {
				w.WriteHeader(f.status)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": `model "linux-builder" not found, try pulling it first`})
				return
			}
			answer := f.answers[min(n-1, len(f.answers)-1)]
			_ = json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "created_at": time.Now().UTC().Format(time.RFC3339Nano),
				"message": map[string]string{"role": "assistant", "content": answer}, "done": true, "done_reason": "stop"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newGen(t *testing.T, f *fakeOllama) (*Generator, *[]string) {
	t.Helper()
	if f.version == "" {
		f.version = "0.5.7"
	}
	srv := f.serve(t)
	g, err := NewGenerator(&Client{URL: srv.URL, Timeout: 2 * time.Second}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	g.Log = func(m string) { logs = append(logs, m) }
	return g, &logs
}

const valid = `{"name":"zsh-box","base":"debian","customization":{"shell":"zsh"},"packages":["vim","curl"]}`

func TestGenerateExtractsTheSpec(t *testing.T) {
	tests := []struct {
		name     string
		answers  []string
		attempts int
	}{
		{"plain JSON", []string{valid}, 1},
		{"think tags, a fence and prose", []string{"<think>The user wants zsh. {not json}</think>\nHere is the spec:\n```json\n" + valid + "\n```\nEnjoy {your} system!"}, 1},
		{"two objects: the first", []string{valid + "\n" + `{"name":"other"}`}, 1},
		{"truncated, then complete", []string{valid[:40], valid}, 2},
		{"no JSON, then JSON", []string{"I cannot do that.", valid}, 2},
		{"incompatible, then fixed", []string{`{"name":"mac","base":"debian","securityFeatures":{"mac":["apparmor","selinux"]}}`,
			`{"name":"mac","base":"debian","securityFeatures":{"mac":"apparmor"}}`}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeOllama{answers: tc.answers}
			g, logs := newGen(t, f)
			res, err := g.Generate(context.Background(), "a minimal debian with zsh")
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != tc.attempts || len(*logs) != tc.attempts {
				t.Fatalf("attempts %d, logs %v; want %d", res.Attempts, *logs, tc.attempts)
			}
			var m map[string]any
			if err := yaml.Unmarshal(res.YAML, &m); err != nil || m["name"] == nil || strings.Contains(string(res.YAML), "{") {
				t.Fatalf("YAML %q (%v)", res.YAML, err)
			}
			if tc.attempts > 1 {
				// The repair request carries the problems and the bad answer.
				last := f.requests[len(f.requests)-1].Messages
				if last[len(last)-2].Role != "assistant" || !strings.Contains(last[len(last)-1].Content, "not valid") {
					t.Fatalf("repair messages %+v", last[len(last)-2:])
				}
			}
			if tc.name == "incompatible, then fixed" && !strings.Contains(f.requests[1].Messages[3].Content, "AppArmor and SELinux") {
				t.Fatalf("repair without the rule's message: %q", f.requests[1].Messages[3].Content)
			}
		})
	}
}

// The request carries the system prompt with the schema, the prompt, and
// the schema as `format` (or "json" for servers before 0.5).
func TestRequestCarriesSchemaAndSystemPrompt(t *testing.T) {
	f := &fakeOllama{answers: []string{valid}}
	g, _ := newGen(t, f)
	if _, err := g.Generate(context.Background(), "a minimal debian with zsh"); err != nil {
		t.Fatal(err)
	}
	req := f.requests[0]
	if req.Model != "linux-builder" || req.Stream || len(req.Messages) != 2 || req.Messages[0].Role != "system" ||
		!strings.Contains(req.Messages[0].Content, `"$schema"`) || !strings.Contains(req.Messages[0].Content, "minimal-debian") ||
		req.Messages[1].Content != "a minimal debian with zsh" {
		t.Fatalf("request %+v", req)
	}
	var format map[string]any
	if err := json.Unmarshal(req.Format, &format); err != nil || format["$defs"] == nil || format["$ref"] != "#/$defs/Spec" {
		t.Fatalf("format is not the schema: %.200s", req.Format)
	}
	old := &fakeOllama{answers: []string{valid}, version: "0.4.7"}
	g, _ = newGen(t, old)
	if _, err := g.Generate(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if string(old.requests[0].Format) != `"json"` {
		t.Fatalf("format for an old server: %s", old.requests[0].Format)
	}
}

func TestGenerateFailures(t *testing.T) {
	// Never valid: a clear failure quoting the problems.
	g, _ := newGen(t, &fakeOllama{answers: []string{`{"name":"x","base":"debain"}`}})
	_, err := g.Generate(context.Background(), "x")
	var ge *GenerateError
	if !errors.As(err, &ge) || ge.Attempts != 3 || !strings.Contains(err.Error(), `"debain"`) {
		t.Fatalf("never valid: %v", err)
	}
	// A slow server.
	g, _ = newGen(t, &fakeOllama{answers: []string{valid}, delay: 5 * time.Second})
	if _, err := g.Generate(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "did not answer within 2s") {
		t.Fatalf("timeout: %v", err)
	}
	// A missing model.
	g, _ = newGen(t, &fakeOllama{status: 404})
	if _, err := g.Generate(context.Background(), "x"); !errors.Is(err, ErrModelMissing) || !strings.Contains(err.Error(), "ollama pull") {
		t.Fatalf("missing model: %v", err)
	}
	// Nobody there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	g.Client.URL = "http://" + addr
	if _, err := g.Generate(context.Background(), "x"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := g.Generate(context.Background(), "  "); err == nil {
		t.Fatal("an empty prompt was sent")
	}
}

// Strings that look like other YAML types stay strings.
func TestYAMLKeepsStrings(t *testing.T) {
	y, err := toYAML([]byte(`{"a":"yes","b":"1.0","c":"null","d":"~","e":"x: y","f":["on","0x1F"],"g":true,"h":3}`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, ok := m[k].(string); !ok {
			t.Fatalf("%s became %T in\n%s", k, m[k], y)
		}
	}
	if m["g"] != true || m["h"] != 3 || m["f"].([]any)[0] != "on" {
		t.Fatalf("%v", m)
	}
}
