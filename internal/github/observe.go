package github

import (
	"net/http"
	"strings"
)

// Observer is told of every HTTP exchange with GitHub: each attempt the
// transports make (retries and installation-token requests included), so
// that what is counted is what GitHub's rate limits count. It is called
// on the request's goroutine and must be quick.
type Observer interface {
	// GitHubResponse reports one exchange: the request's method, its
	// route template (Route: "/repos/{owner}/{repo}/check-runs", never the
	// raw path), the response's status code (0 when no response came: a
	// refused connection, a timeout) and the response's header (nil
	// without a response).
	GitHubResponse(method, route string, status int, header http.Header)
}

// observeTransport reports every exchange of base to an Observer.
type observeTransport struct {
	base http.RoundTripper
	obs  Observer
	// prefixes are the API's and the upload URL's paths (GitHub
	// Enterprise Server's /api/v3 and /api/uploads), cut off before the
	// route is looked up.
	prefixes []string
}

// newObserveTransport wraps base; apiURL and uploadURL are Config's.
func newObserveTransport(base http.RoundTripper, obs Observer, apiURL, uploadURL string) *observeTransport {
	t := &observeTransport{base: base, obs: obs}
	for _, u := range []string{apiURL, uploadURL} {
		if p := urlPath(u); p != "" {
			t.prefixes = append(t.prefixes, p)
		}
	}
	return t
}

// urlPath is the path of the base URL u without its trailing slash ("" for
// none, or for a URL that is not one).
func urlPath(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(rest[i:], "/")
}

func (t *observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	path := req.URL.EscapedPath()
	for _, p := range t.prefixes {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			path = rest
			break
		}
	}
	route := Route(path)
	if err != nil || resp == nil {
		t.obs.GitHubResponse(req.Method, route, 0, nil)
		return resp, err
	}
	t.obs.GitHubResponse(req.Method, route, resp.StatusCode, resp.Header)
	return resp, nil
}
