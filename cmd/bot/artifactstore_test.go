package main

import (
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/artifacts/artifactstest"
)

// A worker (and bot build) whose ARTIFACT_STORE is wrong stops at start
// with the reason, before taking any job: a malformed URL is a usage error
// (exit 2), a store it cannot use (a missing bucket, refused credentials)
// exit 1; no secret is printed.
func TestBadArtifactStoreFailsAtStart(t *testing.T) {
	s3 := artifactstest.NewS3(t)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		code      int
		want      []string
		forbidden string
	}{
		{name: "unknown scheme", args: []string{"worker", "--artifact-store", "gs://bucket"}, code: 2,
			want: []string{"ARTIFACT_STORE", `unsupported scheme "gs"`}},
		{name: "relative directory", env: map[string]string{"ARTIFACT_STORE": "file://artifacts"}, args: []string{"worker"}, code: 2,
			want: []string{"ARTIFACT_STORE", "a file URL has no host"}},
		{name: "credentials in the URL", env: map[string]string{"ARTIFACT_STORE": "s3://AKID:SECRETSAUCE@bucket?region=x"}, args: []string{"worker"}, code: 2,
			want: []string{"credentials in the URL are not accepted"}, forbidden: "SECRETSAUCE"},
		{name: "missing bucket", args: []string{"worker", "--artifact-store", s3.URL("no-such-bucket")}, code: 1,
			want: []string{"ARTIFACT_STORE is not usable", "no-such-bucket", "the bucket does not exist"}},
		{name: "refused credentials", env: map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret-value"},
			args: []string{"build", "--artifact-store", s3.URL(artifactstest.Bucket), "../../examples/minimal-debian.yaml"}, code: 1,
			want: []string{"ARTIFACT_STORE is not usable", "access denied"}, forbidden: "wrong-secret-value"},
		{name: "bad retention", env: map[string]string{"ARTIFACT_RETENTION": "forever"}, args: []string{"worker", "--artifact-store", "file://" + t.TempDir()}, code: 2,
			want: []string{`ARTIFACT_RETENTION="forever"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			artifactstest.SetCreds(t, artifactstest.AccessKey, artifactstest.SecretKey)
			t.Setenv("ARTIFACT_STORE", "")
			t.Setenv("ARTIFACT_RETENTION", "")
			t.Setenv("GITHUB_APP_ID", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append(tc.args, "--database-url", "", "--data-dir", t.TempDir())
			code, out, stderr := runBot(t, "", args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tc.forbidden != "" && strings.Contains(out+stderr, tc.forbidden) {
				t.Fatalf("a secret was printed:\n%s", stderr)
			}
		})
	}
}
