package webhook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-github/v88/github"
)

// The fast decoder must read GitHub's real payloads exactly as
// encoding/json does (go-github's ParseWebHook uses it): same values in
// every field of go-github's event types, and an error where it fails.
func TestDecodePayloadMatchesEncodingJSON(t *testing.T) {
	files, err := filepath.Glob("../../testdata/github/webhooks/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	compared := 0
	for _, f := range files {
		event := filepath.Base(filepath.Dir(f))
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := github.EventForType(event)
		if want == nil {
			continue
		}
		wantErr := json.Unmarshal(body, want)
		got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
		gotErr := decodePayload(body, got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s: encoding/json error %v, decodePayload error %v", f, wantErr, gotErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodePayload and encoding/json disagree", f)
		}
		compared++
	}
	if compared < 20 {
		t.Fatalf("compared only %d payloads", compared)
	}
	// The structs of the check deciders too.
	for _, f := range []string{"check_run", "check_suite"} {
		files, _ := filepath.Glob("../../testdata/github/webhooks/" + f + "/*.json")
		for _, file := range files {
			body, _ := os.ReadFile(file)
			var a, b checkRunEvent
			var c, d checkSuiteEvent
			if f == "check_run" {
				errA, errB := decodePayload(body, &a), json.Unmarshal(body, &b)
				if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
					t.Errorf("%s: %v / %v: %+v != %+v", file, errA, errB, a, b)
				}
			} else {
				errC, errD := decodePayload(body, &c), json.Unmarshal(body, &d)
				if (errC == nil) != (errD == nil) || !reflect.DeepEqual(c, d) {
					t.Errorf("%s: %v / %v: %+v != %+v", file, errC, errD, c, d)
				}
			}
		}
	}
}

// Malformed payloads are errors, never panics.
func TestDecodePayloadRejectsMalformed(t *testing.T) {
	body, err := os.ReadFile("../../testdata/github/webhooks/push/00-none.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := [][]byte{nil, []byte(""), []byte("{"), []byte(`{"ref": 1}`), []byte(`{"commits": {}}`), []byte(`[]`),
		[]byte(`{"ref":"\ud800"`), body[:len(body)/2], append(append([]byte{}, body...), '}')}
	for i := 1; i < len(body); i += 97 {
		cases = append(cases, body[:i])
	}
	for _, c := range cases {
		var ev github.PushEvent
		if err := decodePayload(c, &ev); err == nil {
			t.Errorf("decoded %.40q without an error", c)
		}
	}
}
