package github

import "strings"

// routes are the route templates of the REST calls the bot makes (those of
// GitHub's OpenAPI description that githubtest's subset holds; a test keeps
// the two the same), most specific first: a literal segment is tried
// before a parameter in the same place. A parameter named in restParams
// takes the rest of the path (a file's path, a ref, "base...head" may
// hold slashes).
var routes = compileRoutes(
	"/app",
	"/app/installations/{installation_id}/access_tokens",
	"/app/hook/deliveries",
	"/app/hook/deliveries/{delivery_id}",
	"/app/hook/deliveries/{delivery_id}/attempts",
	"/repos/{owner}/{repo}/installation",
	"/repos/{owner}/{repo}/contents/{path}",
	"/repos/{owner}/{repo}/check-runs",
	"/repos/{owner}/{repo}/check-runs/{check_run_id}",
	"/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
	"/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest",
	"/repos/{owner}/{repo}/commits/{ref}/check-runs",
	"/repos/{owner}/{repo}/commits/{ref}",
	"/repos/{owner}/{repo}/releases",
	"/repos/{owner}/{repo}/releases/tags/{tag}",
	"/repos/{owner}/{repo}/releases/assets/{asset_id}",
	"/repos/{owner}/{repo}/releases/{release_id}",
	"/repos/{owner}/{repo}/releases/{release_id}/assets",
	"/repos/{owner}/{repo}/issues/comments/{comment_id}",
	"/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
	"/repos/{owner}/{repo}/issues/{issue_number}/comments",
	"/repos/{owner}/{repo}/issues/{issue_number}/labels",
	"/repos/{owner}/{repo}/collaborators/{username}/permission",
	"/repos/{owner}/{repo}/pulls",
	"/repos/{owner}/{repo}/pulls/{pull_number}",
	"/repos/{owner}/{repo}/pulls/{pull_number}/files",
	"/repos/{owner}/{repo}/compare/{basehead}",
	"/repos/{owner}/{repo}/git/refs",
	"/repos/{owner}/{repo}/git/ref/{ref}",
	"/repos/{owner}/{repo}/statuses/{sha}",
	"/repos/{owner}/{repo}",
	"/app-manifests/{code}/conversions",
	"/user",
)

// RouteOther is the route of a path that matches none of the bot's calls.
const RouteOther = "other"

// restParams are the parameters that, last in a template, take the rest
// of the path.
var restParams = map[string]bool{"{path}": true, "{ref}": true, "{basehead}": true}

// route is a template split into its segments.
type route struct {
	template string
	segs     []string
	rest     bool // the last segment takes the rest of the path
}

func compileRoutes(templates ...string) []route {
	out := make([]route, len(templates))
	for i, t := range templates {
		segs := strings.Split(strings.TrimPrefix(t, "/"), "/")
		out[i] = route{template: t, segs: segs, rest: restParams[segs[len(segs)-1]]}
	}
	return out
}

// Route is the template of an API path ("/repos/o/r/check-runs/7" →
// "/repos/{owner}/{repo}/check-runs/{check_run_id}"), relative to the
// API's base URL, or RouteOther. It allocates nothing: the answer is one
// of the table's strings, never a piece of the path, so it is safe as a
// metric label whatever the path holds.
func Route(path string) string {
	path = strings.TrimPrefix(path, "/")
	if path == "" || len(path) > 4096 {
		return RouteOther
	}
	for i := range routes {
		if routes[i].match(path) {
			return routes[i].template
		}
	}
	return RouteOther
}

// match reports whether path (without its leading slash) fits the route.
func (r *route) match(path string) bool {
	for i, seg := range r.segs {
		if path == "" {
			return false
		}
		param := seg[0] == '{'
		if param && r.rest && i == len(r.segs)-1 {
			return true // path is not empty: the rest is the parameter
		}
		var got string
		got, path, _ = strings.Cut(path, "/")
		if got == "" || (!param && got != seg) {
			return false
		}
		if i == len(r.segs)-1 {
			return path == ""
		}
		if path == "" {
			return false
		}
	}
	return false
}
