package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// githubCalls are the GitHub client's metrics: every exchange by method,
// route template and status, and the rate limit left.
type githubCalls struct {
	total     *prometheus.CounterVec
	remaining *prometheus.GaugeVec
	now       func() time.Time

	mu sync.Mutex
	// routes are the route labels seen: at most maxRoutes (github.Route
	// knows about 30), then LabelOther, whatever a caller passes.
	routes map[string]bool
	// windows are, per rate-limit resource, the lowest remaining count
	// seen in a window that has not reset yet, and that window's reset.
	windows map[string]rateWindow
}

type rateWindow struct {
	remaining int64
	reset     time.Time
}

// rateResources are GitHub's rate-limit resources (X-RateLimit-Resource);
// any other value is counted as LabelOther.
var rateResources = map[string]string{}

func init() {
	for _, r := range []string{"core", "search", "code_search", "graphql", "integration_manifest", "source_import",
		"code_scanning_upload", "code_scanning_autofix", "actions_runner_registration", "scim", "dependency_snapshots",
		"dependency_sbom", "audit_log", "audit_log_streaming"} {
		rateResources[r] = r
	}
}

// methods are the HTTP methods the client sends; others are LabelOther.
var methods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
}

func newGitHubCalls() *githubCalls {
	return &githubCalls{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "github", Name: "requests_total",
			Help: "HTTP exchanges with GitHub's API (each attempt, installation tokens included) by method, route template and status code (error: no response).",
		}, []string{"method", "route", "status"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "github", Name: "rate_limit_remaining",
			Help: "The lowest X-RateLimit-Remaining GitHub reported, per resource, in a rate-limit window that has not reset yet (the App and each installation have their own windows: this is the one closest to exhaustion).",
		}, []string{"resource"}),
		now:     time.Now,
		windows: map[string]rateWindow{},
		routes:  map[string]bool{},
	}
}

func (g *githubCalls) register(reg prometheus.Registerer) {
	reg.MustRegister(g.total, g.remaining)
}

// GitHubResponse counts one exchange with GitHub and follows its rate
// limit (github.Observer). route is a template (github.Route), never a
// raw path.
func (g *githubCalls) GitHubResponse(method, route string, status int, h http.Header) {
	m, ok := methods[method]
	if !ok {
		m = LabelOther
	}
	code := "error"
	switch {
	case status >= 100 && status <= 599:
		code = strconv.Itoa(status)
	case status != 0:
		code = LabelOther
	}
	g.total.WithLabelValues(m, g.route(route), code).Inc()
	if h != nil {
		g.rateLimit(h)
	}
}

// maxRoutes bounds the route label's values.
const maxRoutes = 100

// route is route as a label: itself while fewer than maxRoutes were seen
// (and it looks like a template), else LabelOther.
func (g *githubCalls) route(route string) string {
	if route == "" || route[0] != '/' || len(route) > 200 {
		return LabelOther
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.routes[route] {
		return route
	}
	if len(g.routes) >= maxRoutes {
		return LabelOther
	}
	g.routes[route] = true
	return route
}

// rateLimit follows X-RateLimit-Remaining: a lower count replaces the
// resource's, and so does any count once the window of the one kept has
// reset.
func (g *githubCalls) rateLimit(h http.Header) {
	left, err := strconv.ParseInt(h.Get("X-RateLimit-Remaining"), 10, 64)
	if err != nil || left < 0 {
		return
	}
	var reset time.Time
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && s > 0 {
		reset = time.Unix(s, 0)
	}
	res, ok := rateResources[h.Get("X-RateLimit-Resource")]
	if !ok {
		if h.Get("X-RateLimit-Resource") == "" {
			res = "core" // GitHub Enterprise Server may not name it
		} else {
			res = LabelOther
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	w, seen := g.windows[res]
	if seen && left > w.remaining && g.now().Before(w.reset) {
		return
	}
	g.windows[res] = rateWindow{remaining: left, reset: reset}
	g.remaining.WithLabelValues(res).Set(float64(left))
}
