package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewFormats(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
		isJSON  bool
	}{
		{"auto on a pipe is JSON", Options{}, false, true},
		{"json", Options{Format: "json", Level: "debug"}, false, true},
		{"text", Options{Format: "text", Level: "warn"}, false, false},
		{"bad format", Options{Format: "xml"}, true, false},
		{"bad level", Options{Level: "loud"}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(&buf, tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			l.Warn("hello", "run", 7)
			line := strings.TrimSpace(buf.String())
			var m map[string]any
			gotJSON := json.Unmarshal([]byte(line), &m) == nil
			if gotJSON != tc.isJSON || !strings.Contains(line, "hello") {
				t.Fatalf("output %q, want JSON=%v", line, tc.isJSON)
			}
		})
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Format: "json", Level: "error"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("quiet")
	if buf.Len() != 0 {
		t.Fatalf("info logged at level error: %q", buf.String())
	}
}
