package webhook

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Behind a reverse proxy every per-address limit would key on the
// proxy's address; with TrustedProxies, the client's address is the
// proxy's header, believed only from a trusted proxy (anyone else can send
// the header too) and only when it is an IP address.
func TestClientAddressBehindATrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		header  string // the Config's ProxyHeader
		send    map[string]string
		lines   []string // X-Real-IP lines, one header each
		want    string
	}{
		{name: "no proxies: the header is the client's to forge", send: map[string]string{"X-Real-IP": "203.0.113.7"}, want: "127.0.0.1"},
		{name: "the loopback proxy is trusted", proxies: []string{"127.0.0.1"}, send: map[string]string{"X-Real-IP": "203.0.113.7"}, want: "203.0.113.7"},
		{name: "a trusted range", proxies: []string{"127.0.0.0/8"}, send: map[string]string{"X-Real-IP": "2001:db8::1"}, want: "2001:db8::1"},
		{name: "an untrusted peer's header is ignored", proxies: []string{"10.0.0.0/8"}, send: map[string]string{"X-Real-IP": "203.0.113.7"}, want: "127.0.0.1"},
		{name: "not an address: the peer", proxies: []string{"127.0.0.1"}, send: map[string]string{"X-Real-IP": "evil"}, want: "127.0.0.1"},
		// A proxy that appends (a comma, or a line of its own after the
		// client's): the client's first address would win; the peer does.
		{name: "a list in the header: the peer", proxies: []string{"127.0.0.1"}, send: map[string]string{"X-Real-IP": "6.6.6.6, 203.0.113.9"}, want: "127.0.0.1"},
		{name: "junk then an address: the peer", proxies: []string{"127.0.0.1"}, send: map[string]string{"X-Real-IP": "junk, 6.6.6.6"}, want: "127.0.0.1"},
		{name: "two header lines: the peer", proxies: []string{"127.0.0.1"}, lines: []string{"6.6.6.6", "203.0.113.9"}, want: "127.0.0.1"},
		{name: "another header named", proxies: []string{"127.0.0.1"}, header: "CF-Connecting-IP",
			send: map[string]string{"X-Real-IP": "198.51.100.1", "CF-Connecting-IP": "203.0.113.9"}, want: "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := New(Config{Secret: secret, AppID: 1, Store: stubStore{}, Intake: stubIntake{}, Logger: quiet,
				TrustedProxies: tc.proxies, ProxyHeader: tc.header})
			if err != nil {
				t.Fatal(err)
			}
			app.Get("/ip", func(c *fiber.Ctx) error { return c.SendString(c.IP()) })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = app.Listener(ln) }()
			t.Cleanup(func() { _ = app.Shutdown() })
			req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/ip", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.send {
				req.Header.Set(k, v)
			}
			for _, v := range tc.lines {
				req.Header.Add("X-Real-IP", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if got := string(b); got != tc.want {
				t.Fatalf("c.IP() = %q, want %q", got, tc.want)
			}
		})
	}
}

// Bad proxy settings stop the start with what is wrong; X-Forwarded-For
// is refused (proxies append to it: its first address is the client's).
func TestProxySettingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, nope"}, want: `"nope" is neither an IP address nor a CIDR range`},
		{env: map[string]string{"TRUSTED_PROXIES": "10.0.0.1", "PROXY_HEADER": "X-Forwarded-For"}, want: "X-Forwarded-For: proxies append to it"},
		{env: map[string]string{"TRUSTED_PROXIES": "10.0.0.1", "PROXY_HEADER": "X Real IP"}, want: "want a header name"},
	} {
		env := map[string]string{"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "9"}
		for k, v := range tc.env {
			env[k] = v
		}
		s := SettingsFromEnv(func(k string) string { return env[k] }, false)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.env, err, tc.want)
		}
	}
	env := map[string]string{"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "9", "TRUSTED_PROXIES": " 10.0.0.1 ,fd00::/8,"}
	s := SettingsFromEnv(func(k string) string { return env[k] }, false)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	s.Apply(&cfg)
	if strings.Join(cfg.TrustedProxies, "|") != "10.0.0.1|fd00::/8" || cfg.ProxyHeader != "X-Real-IP" {
		t.Fatalf("applied %q, %q", cfg.TrustedProxies, cfg.ProxyHeader)
	}
}
