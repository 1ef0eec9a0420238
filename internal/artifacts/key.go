package artifacts

import (
	"fmt"
	"strings"
)

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 512

// ValidKey reports why key is not a valid artifact key, or nil: keys are
// relative, slash-separated segments of [A-Za-z0-9._+=@-]; no segment is
// empty, "." or "..", or starts with "."; no control characters, spaces or
// backslashes. A valid key names a file strictly inside the store's root.
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("artifact key is empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("artifact key is %d bytes long, more than %d", len(key), MaxKeyLen)
	}
	for i, seg := range strings.Split(key, "/") {
		if seg == "" {
			if i == 0 {
				return fmt.Errorf("artifact key %q is absolute", key)
			}
			return fmt.Errorf("artifact key %q has an empty segment", key)
		}
		if seg[0] == '.' {
			return fmt.Errorf("artifact key %q has a segment starting with '.' (%q)", key, seg)
		}
		for _, c := range []byte(seg) {
			if !keyByte(c) {
				return fmt.Errorf("artifact key %q has a character outside [A-Za-z0-9._+=@-] (%q)", key, c)
			}
		}
	}
	return nil
}

func keyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._+=@-", c) >= 0
}

// RunKey is the key of artifact name of run id: runs/<id>/<name>. name must
// be one valid key segment (no "/").
func RunKey(id int64, name string) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("artifact key: run id %d is not positive", id)
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("artifact key: name %q is not a single file name", name)
	}
	key := fmt.Sprintf("runs/%d/%s", id, name)
	if err := ValidKey(key); err != nil {
		return "", err
	}
	return key, nil
}
