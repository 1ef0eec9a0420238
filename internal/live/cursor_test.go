package live

import (
	"strings"
	"testing"
)

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Cursor
		err      bool
	}{
		{name: "empty is the start", in: ""},
		{name: "three parts", in: "12-3-1700000000000", want: Cursor{Log: 12, Artifact: 3, Step: 1700000000000}},
		{name: "end", in: "12-3-4-end", want: Cursor{Log: 12, Artifact: 3, Step: 4, End: true}},
		{name: "two parts", in: "12-3", err: true},
		{name: "five parts", in: "1-2-3-4-5", err: true},
		{name: "negative", in: "1--2-3", err: true},
		{name: "plus sign", in: "+1-2-3", err: true},
		{name: "leading zero", in: "01-2-3", err: true},
		{name: "overflow", in: "99999999999999999999-2-3", err: true},
		{name: "spaces", in: "1 -2-3", err: true},
		{name: "not end", in: "1-2-3-fin", err: true},
		{name: "too long", in: strings.Repeat("1", 100) + "-2-3", err: true},
		{name: "newline injection", in: "1-2-3\ndata: x", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCursor(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseCursor(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCursor(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if tc.in != "" && got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

// Each event raises its own part only, so ids along a stream compare as
// tuples in order.
func TestCursorAdvanceIsMonotonic(t *testing.T) {
	var c Cursor
	prev := c
	for _, ev := range []*Event{
		{Kind: KindStep, key: 1000}, {Kind: KindLog, key: 5}, {Kind: KindLog, key: 3}, {Kind: KindArtifact, key: 2},
		{Kind: KindStep, key: 900}, {Kind: KindLog, key: 9}, {Kind: KindEnd},
	} {
		c.advance(ev)
		if !cursorGE(c, prev) {
			t.Fatalf("%+v after %+v went back", c, prev)
		}
		prev = c
	}
	if c != (Cursor{Log: 9, Artifact: 2, Step: 1000, End: true}) {
		t.Fatalf("final cursor %+v", c)
	}
}

func cursorGE(a, b Cursor) bool {
	return a.Log >= b.Log && a.Artifact >= b.Artifact && a.Step >= b.Step && (a.End || !b.End)
}
