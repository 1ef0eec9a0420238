package setup

import (
	"strings"
	"testing"
	"time"
)

func TestGitHubFrom(t *testing.T) {
	cases := []struct {
		name, web, api      string
		wantWeb, wantAPI    string
		wantErr, enterprise bool
	}{
		{name: "github.com", wantWeb: "https://github.com", wantAPI: "https://api.github.com"},
		{name: "api.github.com given", api: "https://api.github.com/", wantWeb: "https://github.com", wantAPI: "https://api.github.com"},
		{name: "GHES API", api: "https://ghe.example.com/api/v3/", wantWeb: "https://ghe.example.com", wantAPI: "https://ghe.example.com/api/v3", enterprise: true},
		{name: "GHES web", web: "https://ghe.example.com", wantWeb: "https://ghe.example.com", wantAPI: "https://ghe.example.com/api/v3", enterprise: true},
		{name: "GHE.com API", api: "https://api.acme.ghe.com", wantWeb: "https://acme.ghe.com", wantAPI: "https://api.acme.ghe.com", enterprise: true},
		{name: "GHE.com web", web: "https://acme.ghe.com", wantWeb: "https://acme.ghe.com", wantAPI: "https://api.acme.ghe.com", enterprise: true},
		{name: "both", web: "https://ghe.example.com", api: "https://api.ghe.example.com", wantWeb: "https://ghe.example.com", wantAPI: "https://api.ghe.example.com", enterprise: true},
		{name: "API that says nothing of the web host", api: "https://proxy.example.com/gh", wantErr: true},
		{name: "plain http off loopback", api: "http://ghe.example.com/api/v3", wantErr: true},
		{name: "query", web: "https://ghe.example.com/?x=1", wantErr: true},
		{name: "user", web: "https://u:p@ghe.example.com", wantErr: true},
		{name: "relative", web: "ghe.example.com", wantErr: true},
		{name: "javascript", web: "javascript:alert(1)", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := GitHubFrom(tc.web, tc.api)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			if g.WebURL != tc.wantWeb || g.APIURL != tc.wantAPI || g.Enterprise() != tc.enterprise {
				t.Errorf("got %+v (enterprise %v)", g, g.Enterprise())
			}
		})
	}
}

// A flood of GET /setup keeps at most max states; the newest survive.
func TestStatesAreBounded(t *testing.T) {
	now := time.Unix(0, 0)
	s := newStates(4, time.Minute, func() time.Time { return now })
	var issued []string
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		v, err := s.issue()
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, v)
	}
	if len(s.m) != 4 {
		t.Errorf("%d states kept, want 4", len(s.m))
	}
	if s.consume(issued[0]) {
		t.Error("the oldest state survived the flood")
	}
	if !s.consume(issued[9]) || s.consume(issued[9]) {
		t.Error("the newest state is not usable exactly once")
	}
	if s.consume("") || s.consume(strings.Repeat("x", 1<<16)) {
		t.Error("a state never issued was accepted")
	}
}

func TestNewOutputRefusesOddPaths(t *testing.T) {
	for _, p := range []string{"", "/tmp/a b.env", "/tmp/a\n.env", "/tmp/$HOME.env", "/tmp/a#.env"} {
		if _, err := NewOutput(p, false); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	o, err := NewOutput("/etc/linux-builder/github-app.env", false)
	if err != nil || o.PEM != "/etc/linux-builder/github-app.pem" {
		t.Errorf("%+v %v", o, err)
	}
}

func TestParseAppFileIsStrict(t *testing.T) {
	base := "name: X\ndefault_permissions: {checks: write}\ndefault_events: [push]\n"
	if _, err := ParseAppFile([]byte(base)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		base + "unknown: 1\n",
		"name: X\ndefault_permissions: {checks: owner}\n",
		"name: X\ndefault_permissions: {}\n",
		"name: X\ndefault_permissions: {checks: write}\ndefault_events: [\"push\\nx\"]\n",
		"name: \"<script>\"\ndefault_permissions: {checks: write}\n",
	} {
		if _, err := ParseAppFile([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}
