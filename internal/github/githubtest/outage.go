package githubtest

import (
	"net/http"
	"time"
)

// Outage makes the fake answer every request with 502 Bad Gateway for d
// from now, as GitHub does during an incident; it returns the time the
// outage ends. A later call replaces the window.
func (s *Server) Outage(d time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outageUntil = time.Now().Add(d)
	return s.outageUntil
}

// OutageHits is how many requests outages answered with 502.
func (s *Server) OutageHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outageHits
}

// OnRequest makes fn see every documented request (its method and
// OpenAPI route) before it is served, in the request's goroutine: a test
// can act at a precise point of the bot's conversation with GitHub (kill
// the worker during an upload).
func (s *Server) OnRequest(fn func(method, route string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRequest = fn
}

// intercept runs the request hook and answers with 502 during an outage;
// it reports whether the request was answered.
func (s *Server) intercept(w http.ResponseWriter, method, route string) bool {
	s.mu.Lock()
	fn, down := s.onRequest, time.Now().Before(s.outageUntil)
	if down {
		s.outageHits++
	}
	s.mu.Unlock()
	if fn != nil {
		fn(method, route)
	}
	if down {
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Bad Gateway (injected outage)"})
	}
	return down
}
