package live

import (
	"fmt"
	"strconv"
	"strings"
)

// Cursor is where a client is in a run's events: the parts of an event id
// (see the package documentation).
type Cursor struct {
	// Log is the id of the newest log line sent.
	Log int64
	// Artifact is the id of the newest artifact sent.
	Artifact int64
	// Step is the time (Unix ms) of the newest step transition sent.
	Step int64
	// End is set once the end event was sent.
	End bool
}

// maxCursorLen bounds a Last-Event-ID: three 19-digit numbers, dashes and
// "-end".
const maxCursorLen = 3*19 + 2 + 4

// String is the cursor as an event id.
func (c Cursor) String() string {
	s := strconv.FormatInt(c.Log, 10) + "-" + strconv.FormatInt(c.Artifact, 10) + "-" + strconv.FormatInt(c.Step, 10)
	if c.End {
		s += "-end"
	}
	return s
}

// ParseCursor reads an event id; the empty string is the start.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	if len(s) > maxCursorLen {
		return c, fmt.Errorf("event id: %d bytes, at most %d", len(s), maxCursorLen)
	}
	parts := strings.Split(s, "-")
	if len(parts) == 4 && parts[3] == "end" {
		c.End = true
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return c, fmt.Errorf("event id %q: want LOG-ARTIFACT-STEP or LOG-ARTIFACT-STEP-end", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || p != strconv.FormatInt(n, 10) {
			return Cursor{}, fmt.Errorf("event id %q: part %d (%q) is not a non-negative decimal number", s, i+1, p)
		}
		switch i {
		case 0:
			c.Log = n
		case 1:
			c.Artifact = n
		default:
			c.Step = n
		}
	}
	return c, nil
}

// advance raises the cursor's part that ev carries.
func (c *Cursor) advance(ev *Event) {
	switch ev.Kind {
	case KindLog:
		c.Log = max(c.Log, ev.key)
	case KindArtifact:
		c.Artifact = max(c.Artifact, ev.key)
	case KindStep:
		c.Step = max(c.Step, ev.key)
	case KindEnd:
		c.End = true
	}
}
