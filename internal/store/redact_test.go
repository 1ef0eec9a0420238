package store

import (
	"strings"
	"testing"
)

// A DATABASE_URL in logs and errors never shows a password or a key's
// path: in the user part, and in the query (libpq and pgx take password,
// sslpassword, sslkey there too), whatever their case or encoding.
func TestRedactDatabaseURL(t *testing.T) {
	tests := []struct {
		name, url string
		secrets   []string
		keep      []string
	}{
		{name: "user password", url: "postgres://bot:pw-user@db:5432/lb?sslmode=require",
			secrets: []string{"pw-user"}, keep: []string{"bot", "db:5432/lb", "sslmode=require"}},
		{name: "query password", url: "postgres://db/lb?user=bot&password=pw-query&sslmode=disable",
			secrets: []string{"pw-query"}, keep: []string{"user=bot", "sslmode=disable"}},
		{name: "first parameter", url: "postgresql://db/lb?password=pw-first",
			secrets: []string{"pw-first"}},
		{name: "sslpassword and key paths", url: "postgres://db/lb?sslpassword=pw-ssl&sslkey=/etc/secret/client.key&sslcert=/etc/secret/client.crt",
			secrets: []string{"pw-ssl", "/etc/secret/client.key", "/etc/secret/client.crt"}},
		{name: "encoded and upper-case keys", url: "postgres://db/lb?PASSWORD=pw-upper&pass%77ord=pw-encoded",
			secrets: []string{"pw-upper", "pw-encoded"}},
		{name: "both", url: "postgres://bot:pw-a@db/lb?password=pw-b",
			secrets: []string{"pw-a", "pw-b"}},
		{name: "unparseable", url: "postgres://bot:pw-bad@db:port/%zz?password=pw-bad2",
			secrets: []string{"pw-bad", "pw-bad2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RedactURL(tc.url)
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Fatalf("RedactURL(%q) = %q: shows %q", tc.url, got, s)
				}
			}
			for _, s := range tc.keep {
				if !strings.Contains(got, s) {
					t.Fatalf("RedactURL(%q) = %q: lost %q", tc.url, got, s)
				}
			}
		})
	}
}
