package dpkg

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxRecorded is how many updates a run's record keeps; the rest are
// counted. A hostile image (every package at version 0) cannot make a
// record, or a release body, of unbounded size.
const MaxRecorded = 1000

// recorded is a run's record of package updates: the first MaxRecorded
// and how many more.
type recorded struct {
	Updates []Update `json:"updates"`
	More    int      `json:"more,omitempty"`
}

// RecordUpdates encodes ups for a run's record (JSON), keeping the first
// MaxRecorded and the count of the rest.
func RecordUpdates(ups []Update) (string, error) {
	r := recorded{Updates: ups[:min(len(ups), MaxRecorded)], More: max(len(ups)-MaxRecorded, 0)}
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("record package updates: %w", err)
	}
	return string(b), nil
}

// ReadUpdates decodes a record RecordUpdates wrote (or a plain JSON list
// of updates, as records were first written): the updates kept and how
// many more there were.
func ReadUpdates(rec string) ([]Update, int, error) {
	var list []Update
	if err := json.Unmarshal([]byte(rec), &list); err == nil {
		return list, 0, nil
	}
	var r recorded
	if err := json.Unmarshal([]byte(rec), &r); err != nil {
		return nil, 0, fmt.Errorf("package updates record: %w", err)
	}
	if r.More < 0 {
		return nil, 0, errors.New("package updates record: a negative count")
	}
	return r.Updates, r.More, nil
}
