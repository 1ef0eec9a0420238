package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// A context enriched at the entry point carries its attributes to every
// line logged below it; a bare context logs through the default logger.
func TestContextCarriesTheLogger(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := WithLogger(context.Background(), base)
	ctx = With(ctx, KeyDelivery, "d-1")
	ctx = With(ctx, KeyRun, int64(42))
	From(ctx).InfoContext(ctx, "hello")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line[KeyDelivery] != "d-1" || line[KeyRun] != float64(42) || line["msg"] != "hello" {
		t.Fatalf("line %v", line)
	}
	if From(context.Background()) != slog.Default() {
		t.Fatal("a bare context does not log through the default logger")
	}
}
