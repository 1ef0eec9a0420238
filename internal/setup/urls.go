package setup

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// orgLogin is a GitHub organisation login: letters, digits and single
// hyphens, not at either end, at most 39 characters.
var orgLogin = regexp.MustCompile(`^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`)

// validOrg reports whether org can be an organisation login.
func validOrg(org string) bool { return len(org) <= 39 && orgLogin.MatchString(org) }

// BaseURL checks a server URL (PUBLIC_URL, the setup URL, GITHUB_URL,
// GITHUB_API_URL): absolute, https (http only on a loopback host), no
// user, query or fragment. It returns it without a trailing slash.
func BaseURL(name, raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("%s is required", name)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s %q: %w", name, raw, err)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%s %q: want an absolute URL such as https://builder.example.com", name, raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("%s %q: want no user, query or fragment", name, raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return "", fmt.Errorf("%s %q: want https (http only on localhost)", name, raw)
	}
	if strings.ContainsAny(raw, "\"'<> \t\r\n\\") {
		return "", fmt.Errorf("%s %q: has characters a URL does not", name, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GitHub is where the App is made: the web host the form posts to and the
// REST API the code is converted with.
type GitHub struct {
	// WebURL is https://github.com, or a GitHub Enterprise Server's (or
	// GHE.com subdomain's) web address.
	WebURL string
	// APIURL is https://api.github.com, https://HOST/api/v3 on GHES, or
	// https://api.SUBDOMAIN.ghe.com.
	APIURL string
}

// Enterprise reports whether this is not github.com.
func (g GitHub) Enterprise() bool { return g.WebURL != "https://github.com" }

// UploadURL is the release-asset upload base of GHES (GITHUB_UPLOAD_URL);
// "" elsewhere (the client's default is right).
func (g GitHub) UploadURL() string {
	if strings.HasSuffix(g.APIURL, "/api/v3") {
		return strings.TrimSuffix(g.APIURL, "/api/v3") + "/api/uploads/"
	}
	return ""
}

// GitHubFrom derives the web and API URLs from GITHUB_URL (the web host)
// and GITHUB_API_URL, either of which may be empty:
//
//	neither                      github.com, api.github.com
//	API https://HOST/api/v3      GHES: web https://HOST
//	API https://api.X.ghe.com    GHE.com: web https://X.ghe.com
//	web https://HOST             GHES: API https://HOST/api/v3
//	both                         as given
func GitHubFrom(webURL, apiURL string) (GitHub, error) {
	var g GitHub
	var err error
	if webURL != "" {
		if g.WebURL, err = BaseURL("GITHUB_URL", webURL); err != nil {
			return g, err
		}
	}
	if apiURL != "" {
		if g.APIURL, err = BaseURL("GITHUB_API_URL", apiURL); err != nil {
			return g, err
		}
	}
	switch {
	case g.WebURL == "" && g.APIURL == "":
		return GitHub{WebURL: "https://github.com", APIURL: "https://api.github.com"}, nil
	case g.WebURL == "":
		g.WebURL, err = webFromAPI(g.APIURL)
		return g, err
	case g.APIURL == "":
		g.APIURL = apiFromWeb(g.WebURL)
	}
	return g, nil
}

func webFromAPI(api string) (string, error) {
	u, _ := url.Parse(api) // BaseURL parsed it
	switch {
	case u.Host == "api.github.com":
		return "https://github.com", nil
	case strings.HasPrefix(u.Host, "api.") && strings.HasSuffix(u.Host, ".ghe.com"):
		return u.Scheme + "://" + strings.TrimPrefix(u.Host, "api."), nil
	case strings.TrimRight(u.Path, "/") == "/api/v3":
		return u.Scheme + "://" + u.Host, nil
	}
	return "", errors.New("GITHUB_API_URL " + api + ": cannot tell GitHub's web address from it (want https://HOST/api/v3); set GITHUB_URL too")
}

func apiFromWeb(web string) string {
	u, _ := url.Parse(web)
	switch {
	case u.Host == "github.com":
		return "https://api.github.com"
	case strings.HasSuffix(u.Host, ".ghe.com"):
		return u.Scheme + "://api." + u.Host
	}
	return web + "/api/v3"
}

// newAppURL is where the manifest form posts: the personal or an
// organisation's "new App" page, with the state.
func (g GitHub) newAppURL(org, state string) string {
	path := "/settings/apps/new"
	if org != "" {
		path = "/organizations/" + org + "/settings/apps/new"
	}
	return g.WebURL + path + "?state=" + url.QueryEscape(state)
}
