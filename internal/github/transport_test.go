package github

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type scripted struct {
	answers []*http.Response
	seen    int
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	r := s.answers[min(s.seen, len(s.answers)-1)]
	s.seen++
	cp := *r
	cp.Request = req
	cp.Body = io.NopCloser(strings.NewReader("{}"))
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		cp.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	return &cp, nil
}

func answer(code int, hdr map[string]string, body string) *http.Response {
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestLimitTransport(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(3*time.Second).Unix(), 10)
	tests := []struct {
		name    string
		method  string
		answers []*http.Response
		want    int // final status
		tries   int
		waited  time.Duration // at least
	}{
		{"429 with Retry-After", "PATCH", []*http.Response{answer(429, map[string]string{"Retry-After": "2"}, ""), answer(200, nil, "")}, 200, 2, 2 * time.Second},
		{"primary limit waits for the reset", "GET", []*http.Response{answer(403, map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": reset}, ""), answer(200, nil, "")}, 200, 2, time.Second},
		{"secondary limit without a hint waits a minute", "POST", []*http.Response{answer(403, nil, `{"message":"You have exceeded a secondary rate limit"}`), answer(201, nil, "")}, 201, 2, time.Minute},
		{"a plain 403 is an answer", "GET", []*http.Response{answer(403, nil, `{"message":"Resource not accessible by integration"}`)}, 403, 1, 0},
		{"502 on PATCH is retried", "PATCH", []*http.Response{answer(502, nil, ""), answer(502, nil, ""), answer(200, nil, "")}, 200, 3, 3 * time.Millisecond},
		{"502 on POST is not", "POST", []*http.Response{answer(502, nil, ""), answer(201, nil, "")}, 502, 1, 0},
		{"a limit too far away is returned", "GET", []*http.Response{answer(429, map[string]string{"Retry-After": "3600"}, "")}, 429, 1, 0},
		{"retries end", "GET", []*http.Response{answer(503, nil, "")}, 503, 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := &scripted{answers: tc.answers}
			lt := newLimitTransport(base)
			lt.backoff = time.Millisecond
			var waited time.Duration
			lt.sleep = func(_ context.Context, d time.Duration) error { waited += d; return nil }
			req, _ := http.NewRequest(tc.method, "https://api.github.com/x", strings.NewReader(`{"a":1}`))
			resp, err := lt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want || base.seen != tc.tries || waited < tc.waited {
				t.Fatalf("status %d after %d tries, waited %s; want %d after %d, at least %s", resp.StatusCode, base.seen, waited, tc.want, tc.tries, tc.waited)
			}
			if tc.want == 403 {
				if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "not accessible") {
					t.Fatalf("body lost: %q", b)
				}
			}
		})
	}
}
