package setup

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// states are the states handed out and not yet used: each is random (256
// bits), single-use and expires after ttl. At most max are kept; issuing
// one more forgets the oldest (that browser starts again), so a flood of
// GET /setup holds bounded memory.
type states struct {
	mu  sync.Mutex
	m   map[[32]byte]time.Time // sha256 of the state → expiry
	max int
	ttl time.Duration
	now func() time.Time
}

func newStates(max int, ttl time.Duration, now func() time.Time) *states {
	return &states{m: map[[32]byte]time.Time{}, max: max, ttl: ttl, now: now}
}

// issue returns a new state.
func (s *states) issue() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("setup: random state: %w", err)
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.m {
		if !now.Before(exp) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= s.max {
		var oldest [32]byte
		var at time.Time
		for k, exp := range s.m {
			if at.IsZero() || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(v))] = now.Add(s.ttl)
	return v, nil
}

// consume reports whether v was issued, has not expired and was not used;
// it can be used once.
func (s *states) consume(v string) bool {
	k := sha256.Sum256([]byte(v))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[k]
	delete(s.m, k)
	return ok && s.now().Before(exp)
}
